"""HTTP routes of the rooms domain (thin: parse, call the service, render).
Messages in rooms are the messages package's (`/api/rooms/{id}/messages`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from parley.auth.deps import CurrentProfileId
from parley.deps import AppStateDep, SessionDep
from parley.openapi import responses
from parley.paths import PathId, id_or_404
from parley.rooms import service
from parley.rooms.schemas import GroupChanges, NewDm, NewGroup, NewGroupMembers, RoomOut

router = APIRouter(prefix="/api/rooms", tags=["rooms"], responses=responses(401))

NewRoomBody = Annotated[NewDm | NewGroup, Body(discriminator="type")]


@router.post(
    "",
    status_code=201,
    summary="Open a DM (201 new, 200 existing) or create a group",
    responses={
        200: {"description": "The DM already existed", "model": RoomOut},
        **responses(404, 409, 422),
    },
)
async def create_room(
    body: NewRoomBody, response: Response, session: SessionDep, caller: CurrentProfileId
) -> RoomOut:
    room, created = await service.create_room(session, caller, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return room


@router.get("", summary="Your DMs and groups, newest first")
async def list_rooms(session: SessionDep, caller: CurrentProfileId) -> list[RoomOut]:
    return await service.list_rooms(session, caller)


@router.get("/{room_id}", summary="A DM, group or channel you are in", responses=responses(404))
async def get_room(room_id: PathId, session: SessionDep, caller: CurrentProfileId) -> RoomOut:
    return await service.get_room(session, caller, id_or_404(room_id, "room"))


@router.patch(
    "/{room_id}",
    summary="Rename a group or change its image (group ADMIN)",
    responses=responses(403, 404, 422),
)
async def update_room(
    room_id: PathId, body: GroupChanges, session: SessionDep, caller: CurrentProfileId
) -> RoomOut:
    changes = body.model_dump(exclude_unset=True)
    return await service.update_room(session, caller, id_or_404(room_id, "room"), changes)


@router.post(
    "/{room_id}/members",
    summary="Add people to a group (group ADMIN)",
    responses=responses(403, 404, 409, 422),
)
async def add_members(
    room_id: PathId, body: NewGroupMembers, session: SessionDep, caller: CurrentProfileId
) -> RoomOut:
    return await service.add_room_members(
        session, caller, id_or_404(room_id, "room"), body.profile_ids
    )


@router.delete(
    "/{room_id}/members/{profile_id}",
    status_code=204,
    summary="Remove someone from a group (group ADMIN), or leave it yourself",
    responses=responses(403, 404),
)
async def remove_member(
    room_id: PathId,
    profile_id: PathId,
    session: SessionDep,
    state: AppStateDep,
    caller: CurrentProfileId,
) -> Response:
    await service.remove_room_member(
        session, state, caller, id_or_404(room_id, "room"), id_or_404(profile_id, "member")
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
