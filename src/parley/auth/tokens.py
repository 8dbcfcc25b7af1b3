"""JWT issue and verification. HS256 only, with an explicit algorithm list; `sub`
is the profile id, `sid` a random session id that logout revokes (see
parley.security.sessions). Verifying needs no database. Tokens are signed with
the current key and verified with it or any previous key still configured
(`PARLEY_JWT_PREVIOUS_SECRETS`), so the key can be rotated without logging
anyone out."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is missing, malformed, expired or signed with another key."""


@dataclass(frozen=True)
class Claims:
    profile_id: uuid.UUID
    session_id: str
    expires_at: float  # epoch seconds
    issued_at_ms: int  # epoch milliseconds (`ims`; `iat` has whole seconds only)


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def issue_token(
    profile_id: uuid.UUID, secret: str, expiry_seconds: int, session_id: str | None = None
) -> str:
    now_ms = int(time.time() * 1000)
    now = now_ms // 1000
    claims = {
        "sub": str(profile_id),
        "sid": session_id or new_session_id(),
        "iat": now,
        "ims": now_ms,
        "exp": now + expiry_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _decode(token: str, keys: Sequence[str]) -> dict[str, Any]:
    """The payload, verified with the first key whose signature matches (the
    current key first: rotation costs an HMAC only for old tokens)."""
    for key in keys[:-1]:
        try:
            return _decode_with(token, key)
        except jwt.InvalidSignatureError:
            continue
    return _decode_with(token, keys[-1])


def _decode_with(token: str, key: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(
        token, key, algorithms=[ALGORITHM], options={"require": ["sub", "sid", "exp", "iat"]}
    )
    return payload


def verify_claims(token: str, keys: str | Sequence[str]) -> Claims:
    """The claims of a token valid under one of `keys`; `InvalidToken` otherwise."""
    try:
        claims = _decode(token, [keys] if isinstance(keys, str) else keys)
        session_id = claims["sid"]
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 64:
            raise ValueError("bad sid")
        issued_ms = claims.get("ims", int(claims["iat"]) * 1000)
        if not isinstance(issued_ms, int):
            raise ValueError("bad ims")
        return Claims(uuid.UUID(str(claims["sub"])), session_id, float(claims["exp"]), issued_ms)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        # RecursionError: a forged header of deeply nested JSON.
        raise InvalidToken(type(exc).__name__) from None


def verify_token(token: str, keys: str | Sequence[str]) -> uuid.UUID:
    """The profile id in a valid token; `InvalidToken` otherwise."""
    return verify_claims(token, keys).profile_id
