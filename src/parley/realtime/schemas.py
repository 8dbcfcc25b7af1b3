"""The WebSocket protocol's frames: client frames parsed into models, server
frames rendered to JSON text once and shared by every recipient, and the close
codes. docs/REALTIME.md is the prose version of this module; keep them in step.

This module knows nothing about connections, rooms or databases.
"""

from __future__ import annotations

import json
import uuid
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from parley.cursors import event_cursor


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # the server is shutting down; reconnect (to another instance)
    MESSAGE_TOO_BIG = 1009  # a frame over the size limit before auth (after it: an error frame)
    INTERNAL_ERROR = 1011
    UNAUTHORIZED = 4001  # missing/invalid/expired token, or first frame was not auth
    AUTH_TIMEOUT = 4008  # no auth frame within the auth timeout
    SLOW_CONSUMER = 4009  # the outgoing queue filled up: the client reads too slowly
    HEARTBEAT_TIMEOUT = 4010  # no frame from the client after a server ping
    TOO_MANY_REQUESTS = 4029  # this account opened too many connections; reason: retry after N s


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class AuthFrame(_Frame):
    op: Literal["auth"]
    token: str = Field(min_length=1, max_length=4096)


class SubscribeFrame(_Frame):
    op: Literal["subscribe"]
    room_id: uuid.UUID = Field(alias="roomId")


class UnsubscribeFrame(_Frame):
    op: Literal["unsubscribe"]
    room_id: uuid.UUID = Field(alias="roomId")


class PingFrame(_Frame):
    op: Literal["ping"]


class PongFrame(_Frame):
    op: Literal["pong"]


ClientFrame = Annotated[
    AuthFrame | SubscribeFrame | UnsubscribeFrame | PingFrame | PongFrame,
    Field(discriminator="op"),
]
_CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class FrameError(ValueError):
    """A client frame that is not valid JSON or not one of the known frames."""

    def __init__(self, detail: str, room_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.room_id = room_id


def parse_client_frame(text: str) -> ClientFrame:
    """The frame in `text`; `FrameError` with a one-line reason otherwise.

    Any failure of the JSON parser (deep nesting's `RecursionError`, a number
    too long to convert, a lone surrogate) is a `FrameError`: nothing a client
    sends may escape as another exception. The caller bounds `text`'s length
    before calling.
    """
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError, MemoryError):
        raise FrameError("The frame is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise FrameError("The frame must be a JSON object.")
    room_id = _echoable(raw.get("roomId"))
    try:
        return _CLIENT_FRAME.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "op"
        raise FrameError(f"{where}: {_printable(first['msg'])}", room_id) from None
    except (ValueError, RecursionError):
        raise FrameError("The frame is malformed.", room_id) from None


# A room id is a 36-character UUID; anything much longer is not echoed back.
_ECHO_MAX = 64


def _echoable(value: object) -> str | None:
    """`value` when it is safe to send back in an error frame: a short string
    that encodes as UTF-8 (a lone surrogate does not, and would drop the socket)."""
    if not isinstance(value, str) or len(value) > _ECHO_MAX:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def render(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=str)


def message_frame(event_type: str, room_id: uuid.UUID, message: dict[str, Any]) -> str:
    """`cursor` resumes the room's change feed after this event; it depends on
    the message alone, so every instance gives the same one."""
    frame = {"type": event_type, "roomId": str(room_id), "message": message}
    frame["cursor"] = event_cursor(message["updatedAt"])
    return render(frame)


def authenticated_frame(profile_id: uuid.UUID, instance: str) -> str:
    return render({"type": "authenticated", "profileId": str(profile_id), "instance": instance})


def subscribed_frame(room_id: uuid.UUID) -> str:
    return render({"type": "subscribed", "roomId": str(room_id)})


def unsubscribed_frame(room_id: uuid.UUID) -> str:
    return render({"type": "unsubscribed", "roomId": str(room_id)})


def subscription_ended_frame(room_id: uuid.UUID, reason: str) -> str:
    return render({"type": "subscription.ended", "roomId": str(room_id), "reason": reason})


def resync_frame(room_id: uuid.UUID, reason: str) -> str:
    """Events for the room may have been missed; fetch `?after=<last id seen>`."""
    return render({"type": "resync", "roomId": str(room_id), "reason": reason})


def error_frame(error: str, detail: str, room_id: str | uuid.UUID | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", "error": error, "detail": detail}
    if room_id is not None:
        frame["roomId"] = str(room_id)
    # ASCII-escaped: whatever a client sent that ends up in `detail` (even a lone
    # surrogate) cannot make the frame unencodable.
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=True, default=str)


PONG = render({"type": "pong"})
PING = render({"type": "ping"})
