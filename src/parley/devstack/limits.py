"""Rate limits raised for tests and benchmarks, which send, edit and connect far
faster than people do, as a handful of accounts from 127.0.0.1. Raised, not
removed: a 429 stays reachable, and the rate-limit tests set their own."""

from __future__ import annotations

from collections.abc import Iterable

TRAFFIC_LIMITS = (
    "PARLEY_SEND_LIMIT_ACCOUNT",
    "PARLEY_SEND_LIMIT_IP",
    "PARLEY_EDIT_LIMIT_ACCOUNT",
    "PARLEY_EDIT_LIMIT_IP",
    "PARLEY_WS_CONNECT_LIMIT_ACCOUNT",
    "PARLEY_WS_CONNECT_LIMIT_IP",
)
SIGN_IN_LIMITS = (
    "PARLEY_REGISTER_LIMIT_IP",
    "PARLEY_LOGIN_LIMIT_IP",
    "PARLEY_LOGIN_LIMIT_ACCOUNT_IP",
)


def raised(names: Iterable[str], per_minute: int = 1_000_000) -> dict[str, str]:
    """Environment variables setting each of `names` to `per_minute` a minute."""
    return {name: f"{per_minute}/minute" for name in names}
