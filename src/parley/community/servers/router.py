"""HTTP routes for servers, invite codes, joining by invite and leaving."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from parley.auth.deps import CurrentProfileId
from parley.community.servers import service
from parley.community.servers.schemas import (
    InviteCode,
    JoinResult,
    NewServer,
    OwnershipTransfer,
    ServerChanges,
    ServerDetail,
    ServerSummary,
)
from parley.deps import AppStateDep, SessionDep
from parley.openapi import links, responses
from parley.paths import PathId, PathInviteCode, id_or_404, invite_code_or_404

router = APIRouter(tags=["servers"], responses=responses(401))

_SERVER = {"server_id": "$response.body#/id"}
_GENERAL = {"room_id": "$response.body#/channels/0/id"}
_OWN_MEMBERSHIP = {"member_id": "$response.body#/members/0/id"}
_NEW_SERVER_LINKS = links(
    201,
    get_server=_SERVER,
    update_server=_SERVER,
    delete_server=_SERVER,
    create_channel=_SERVER,
    rotate_invite_code=_SERVER,
    transfer_ownership=_SERVER,
    leave_server=_SERVER,
    join_by_invite={"code": "$response.body#/inviteCode"},
    get_room=_GENERAL,
    list_messages=_GENERAL,
    send_message=_GENERAL,
    change_role=_OWN_MEMBERSHIP,
    kick=_OWN_MEMBERSHIP,
)


@router.post(
    "/api/servers",
    status_code=201,
    summary="Create a server (you become its owner)",
    responses={**responses(409, 422), **_NEW_SERVER_LINKS},
)
async def create_server(
    body: NewServer, session: SessionDep, caller: CurrentProfileId
) -> ServerDetail:
    return await service.create_server(session, caller, body.name, body.image_url)


@router.get("/api/servers", summary="The servers you are a member of")
async def list_servers(session: SessionDep, caller: CurrentProfileId) -> list[ServerSummary]:
    return await service.list_servers(session, caller)


@router.get(
    "/api/servers/{server_id}",
    summary="A server with its channels and members",
    responses=responses(404),
)
async def get_server(
    server_id: PathId, session: SessionDep, caller: CurrentProfileId
) -> ServerDetail:
    return await service.get_server(session, caller, id_or_404(server_id, "server"))


@router.patch(
    "/api/servers/{server_id}",
    summary="Change a server's name or image (ADMIN)",
    responses=responses(403, 404, 422),
)
async def update_server(
    server_id: PathId, body: ServerChanges, session: SessionDep, caller: CurrentProfileId
) -> ServerDetail:
    changes = body.model_dump(exclude_unset=True)
    return await service.update_server(session, caller, id_or_404(server_id, "server"), changes)


@router.delete(
    "/api/servers/{server_id}",
    status_code=204,
    summary="Delete a server (owner)",
    responses=responses(403, 404),
)
async def delete_server(
    server_id: PathId, session: SessionDep, state: AppStateDep, caller: CurrentProfileId
) -> Response:
    await service.delete_server(session, state, caller, id_or_404(server_id, "server"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/servers/{server_id}/transfer-ownership",
    summary="Make another member the owner (owner)",
    responses=responses(403, 404, 409, 422),
)
async def transfer_ownership(
    server_id: PathId, body: OwnershipTransfer, session: SessionDep, caller: CurrentProfileId
) -> ServerDetail:
    return await service.transfer_ownership(
        session, caller, id_or_404(server_id, "server"), body.member_id
    )


@router.post(
    "/api/servers/{server_id}/invite-code",
    summary="Replace the invite code (ADMIN or MODERATOR)",
    responses=responses(403, 404, 409),
)
async def rotate_invite_code(
    server_id: PathId, session: SessionDep, caller: CurrentProfileId
) -> InviteCode:
    code = await service.rotate_invite_code(session, caller, id_or_404(server_id, "server"))
    return InviteCode(invite_code=code)


@router.post(
    "/api/invites/{code}",
    summary="Join a server by invite code (as GUEST)",
    responses=responses(404, 409),
)
async def join_by_invite(
    code: PathInviteCode, session: SessionDep, caller: CurrentProfileId
) -> JoinResult:
    return await service.join_by_invite(session, caller, invite_code_or_404(code))


@router.post(
    "/api/servers/{server_id}/leave",
    status_code=204,
    summary="Leave a server (not its owner)",
    responses=responses(404, 409),
)
async def leave_server(
    server_id: PathId, session: SessionDep, state: AppStateDep, caller: CurrentProfileId
) -> Response:
    await service.leave_server(session, state, caller, id_or_404(server_id, "server"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
