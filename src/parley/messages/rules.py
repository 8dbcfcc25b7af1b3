"""The message rules both paths (DMs, channel and group messages) share."""

from __future__ import annotations

from parley.errors import Forbidden, NotFound, ValidationFailed
from parley.ids import new_id
from parley.messages.schemas import MessageCreate
from parley.rooms.room import RoomAccess
from parley.storage.records import MessageRecord, now_ms


def check_room_takes_messages(access: RoomAccess) -> None:
    if access.kind == "channel" and access.room.channel_type != "TEXT":
        raise ValidationFailed("Messages exist only in TEXT channels.", code="NotATextChannel")


def new_message(access: RoomAccess, body: MessageCreate) -> MessageRecord:
    """A new message by the caller; without a client nonce its id is its nonce."""
    message_id, now = new_id(), now_ms()
    return MessageRecord(
        id=message_id,
        room_id=access.room_id,
        author_id=access.profile_id,
        content=body.content,
        file_url=body.file_url,
        deleted=False,
        nonce=body.nonce or str(message_id),
        created_at=now,
        updated_at=now,
    )


def existing(found: MessageRecord | None) -> MessageRecord:
    """A message that may be edited or deleted: stored, and not deleted."""
    if found is None or found.deleted:
        raise NotFound("No such message in this room.")
    return found


def edited(access: RoomAccess, current: MessageRecord, content: str) -> MessageRecord:
    if current.author_id != access.profile_id:
        raise Forbidden("Only the author can edit this message.")
    return current.edited(content)


def deleted(access: RoomAccess, current: MessageRecord) -> MessageRecord:
    if current.author_id != access.profile_id and not access.can_moderate:
        raise Forbidden("You may not delete this message.")
    return current.tombstone()
