"""JWT issue and verification. HS256 only, with an explicit algorithm list; `sub`
is the profile id, `sid` a random session id that logout revokes (see
parley.security.sessions). Verifying needs no database."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is missing, malformed, expired or signed with another key."""


@dataclass(frozen=True)
class Claims:
    profile_id: uuid.UUID
    session_id: str
    expires_at: float  # epoch seconds


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def issue_token(
    profile_id: uuid.UUID, secret: str, expiry_seconds: int, session_id: str | None = None
) -> str:
    now = int(time.time())
    claims = {
        "sub": str(profile_id),
        "sid": session_id or new_session_id(),
        "iat": now,
        "exp": now + expiry_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_claims(token: str, secret: str) -> Claims:
    """The claims of a valid token; `InvalidToken` otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "sid", "exp", "iat"]},
        )
        session_id = claims["sid"]
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 64:
            raise ValueError("bad sid")
        return Claims(uuid.UUID(str(claims["sub"])), session_id, float(claims["exp"]))
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        # RecursionError: a forged header of deeply nested JSON.
        raise InvalidToken(type(exc).__name__) from None


def verify_token(token: str, secret: str) -> uuid.UUID:
    """The profile id in a valid token; `InvalidToken` otherwise."""
    return verify_claims(token, secret).profile_id
