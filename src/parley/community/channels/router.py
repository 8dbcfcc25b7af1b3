"""HTTP routes for channels."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from parley.auth.deps import CurrentProfileId
from parley.community.channels import service
from parley.community.channels.schemas import ChannelChanges, ChannelOut, NewChannel
from parley.deps import AppStateDep, SessionDep
from parley.openapi import links, responses
from parley.paths import PathId, id_or_404

router = APIRouter(tags=["channels"], responses=responses(401, 403, 404, 409))

_CHANNEL = {"channel_id": "$response.body#/id"}
_ROOM = {"room_id": "$response.body#/id"}  # a TEXT channel is a room
_NEW_CHANNEL_LINKS = links(
    201,
    update_channel=_CHANNEL,
    delete_channel=_CHANNEL,
    get_room=_ROOM,
    list_messages=_ROOM,
    send_message=_ROOM,
)


@router.post(
    "/api/servers/{server_id}/channels",
    status_code=201,
    summary="Create a channel (ADMIN or MODERATOR)",
    responses={**responses(422), **_NEW_CHANNEL_LINKS},
)
async def create_channel(
    server_id: PathId, body: NewChannel, session: SessionDep, caller: CurrentProfileId
) -> ChannelOut:
    return await service.create_channel(
        session, caller, id_or_404(server_id, "server"), body.name, body.type
    )


@router.patch(
    "/api/channels/{channel_id}",
    summary="Rename or retype a channel (ADMIN or MODERATOR)",
    responses=responses(422),
)
async def update_channel(
    channel_id: PathId, body: ChannelChanges, session: SessionDep, caller: CurrentProfileId
) -> ChannelOut:
    changes = body.model_dump(exclude_unset=True)
    return await service.update_channel(session, caller, id_or_404(channel_id, "channel"), changes)


@router.delete(
    "/api/channels/{channel_id}",
    status_code=204,
    summary="Delete a channel and its messages (ADMIN or MODERATOR)",
)
async def delete_channel(
    channel_id: PathId, session: SessionDep, state: AppStateDep, caller: CurrentProfileId
) -> Response:
    await service.delete_channel(session, state, caller, id_or_404(channel_id, "channel"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
