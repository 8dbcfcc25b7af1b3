"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory).

Hashing costs tens of milliseconds of CPU and 64 MiB, so it runs on the
bounded `HashingPool` (parley.security.hashing) and never on the event loop;
the app installs a pool sized by its settings with `use_pool`. An unknown email
is checked against a dummy hash so a wrong email and a wrong password take the
same time.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from parley.security.hashing import HashingPool

_HASHER = PasswordHasher(type=Type.ID)
_pool = HashingPool()


def use_pool(pool: HashingPool) -> HashingPool:
    """Hash on `pool` from now on; returns the previous pool."""
    global _pool
    previous, _pool = _pool, pool
    return previous


def configure_pool(concurrency: int, max_waiting: int) -> None:
    """Size the process's pool (kept when it already has this size)."""
    if (_pool.concurrency, _pool.max_waiting) != (concurrency, max_waiting):
        use_pool(HashingPool(concurrency, max_waiting)).close()


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("parley-dummy-password")


def _verify_dummy(password: str) -> bool:
    return _verify(_dummy_hash(), password)  # the dummy is hashed in the pool too


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await _pool.run(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown account) still spends
    the time of one verification and answers False."""
    if password_hash is None:
        await _pool.run(_verify_dummy, password)
        return False
    return await _pool.run(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
