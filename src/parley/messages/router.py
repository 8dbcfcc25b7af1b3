"""`/api/rooms/{roomId}/messages`: list, send, edit and delete messages;
`/api/rooms/{roomId}/changes`: the room's change feed.

DM responses carry `X-Data-Source`: on reads the store that served them, on
writes the stores that durably accepted the write before the response.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from parley import cursors
from parley.auth.deps import ClientThrottleDep, CurrentProfileId
from parley.deps import AppStateDep
from parley.errors import ValidationFailed
from parley.ids import UUID_PATTERN, parse_canonical_id
from parley.messages.render import Reply
from parley.messages.schemas import (
    ChangePage,
    MessageCreate,
    MessageEdit,
    MessageOut,
    MessagePage,
)
from parley.messages.service import MessageService
from parley.openapi import links, responses
from parley.paths import PathId, id_or_404
from parley.storage.records import PageQuery

# 404 for a room or message you may not see; 422 also for a non-TEXT channel;
# 429 on sends, edits and deletes (the per-account message rate limits); 409 for
# an edit or delete that a later change superseded.
router = APIRouter(
    prefix="/api/rooms/{room_id}/messages", tags=["messages"], responses=responses(401, 404)
)
changes_router = APIRouter(
    prefix="/api/rooms/{room_id}/changes", tags=["messages"], responses=responses(401, 404)
)

DATA_SOURCE = "X-Data-Source"
_SENT = {"room_id": "$request.path.room_id", "message_id": "$response.body#/id"}


async def message_service(state: AppStateDep, throttle: ClientThrottleDep) -> MessageService:
    return MessageService(
        state.replication,
        state.access,
        state.events,
        throttle,
        changes_overlap=state.settings.changes_overlap,
    )


MessageServiceDep = Annotated[MessageService, Depends(message_service)]


def _respond(reply: Reply) -> JSONResponse:
    headers = {DATA_SOURCE: reply.data_source} if reply.data_source else None
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


# A message id, in the form `nextCursor` is rendered in.
CURSOR = {"format": "uuid", "pattern": UUID_PATTERN}


def _cursor(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    parsed = parse_canonical_id(value)
    if parsed is None:
        raise ValidationFailed(f"{name}: must be a message id")
    return parsed


@router.get(
    "",
    response_model=MessagePage,
    summary="Page through a room's messages",
    responses=responses(422),
)
async def list_messages(
    room_id: PathId,
    messages: MessageServiceDep,
    caller: CurrentProfileId,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[str | None, Query(json_schema_extra=CURSOR)] = None,
    after: Annotated[str | None, Query(json_schema_extra=CURSOR)] = None,
) -> JSONResponse:
    if before is not None and after is not None:
        raise ValidationFailed("before and after cannot be combined")
    query = PageQuery(
        id_or_404(room_id, "room"), limit, _cursor(before, "before"), _cursor(after, "after")
    )
    return _respond(await messages.list(caller, query))


@router.post(
    "",
    status_code=201,
    response_model=MessageOut,
    summary="Send a message (201; 200 with the first message for a repeated nonce)",
    responses={
        200: {"description": "The nonce was already used: the first message", "model": MessageOut},
        **responses(422, 429),
        **links(201, edit_message=_SENT, delete_message=_SENT),
    },
)
async def send_message(
    room_id: PathId, body: MessageCreate, messages: MessageServiceDep, caller: CurrentProfileId
) -> JSONResponse:
    reply = await messages.post(caller, id_or_404(room_id, "room"), body)
    return _respond(reply)


@router.patch(
    "/{message_id}",
    response_model=MessageOut,
    summary="Edit your message",
    responses=responses(403, 409, 422, 429),
)
async def edit_message(
    room_id: PathId,
    message_id: PathId,
    body: MessageEdit,
    messages: MessageServiceDep,
    caller: CurrentProfileId,
) -> JSONResponse:
    reply = await messages.edit(
        caller, id_or_404(room_id, "room"), id_or_404(message_id, "message"), body.content
    )
    return _respond(reply)


@router.delete(
    "/{message_id}",
    response_model=MessageOut,
    summary="Delete a message",
    responses=responses(403, 409, 422, 429),
)
async def delete_message(
    room_id: PathId, message_id: PathId, messages: MessageServiceDep, caller: CurrentProfileId
) -> JSONResponse:
    reply = await messages.delete(
        caller, id_or_404(room_id, "room"), id_or_404(message_id, "message")
    )
    return _respond(reply)


def _since(value: str | None) -> cursors.ChangeCursor | None:
    if value is None:
        return None
    try:
        return cursors.decode(value)
    except ValueError:
        raise ValidationFailed("since: not a change cursor") from None


@changes_router.get(
    "", response_model=ChangePage, summary="A room's change feed", responses=responses(422)
)
async def list_changes(
    room_id: PathId,
    messages: MessageServiceDep,
    caller: CurrentProfileId,
    since: Annotated[str | None, Query(max_length=cursors.MAX_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> JSONResponse:
    reply = await messages.changes(caller, id_or_404(room_id, "room"), _since(since), limit)
    return _respond(reply)
