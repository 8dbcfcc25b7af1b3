"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory).

Hashing costs tens of milliseconds of CPU, so it runs in a worker thread and
never blocks the event loop. An unknown email is checked against a dummy hash
so a wrong email and a wrong password take the same time.
"""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(type=Type.ID)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("parley-dummy-password")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown account) still spends
    the time of one verification and answers False."""
    if password_hash is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
