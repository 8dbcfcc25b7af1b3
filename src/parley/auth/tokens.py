"""JWT issue and verification. HS256 only, with an explicit algorithm list; `sub`
is the profile id. Verifying needs no database."""

from __future__ import annotations

import time
import uuid

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is missing, malformed, expired or signed with another key."""


def issue_token(profile_id: uuid.UUID, secret: str, expiry_seconds: int) -> str:
    now = int(time.time())
    claims = {"sub": str(profile_id), "iat": now, "exp": now + expiry_seconds}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> uuid.UUID:
    """The profile id in a valid token; `InvalidToken` otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]}
        )
        return uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError, RecursionError) as exc:
        # RecursionError: a forged header of deeply nested JSON.
        raise InvalidToken(type(exc).__name__) from None
