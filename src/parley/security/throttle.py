"""Sign-in throttling with the `limits` library (moving windows, in memory).

    failed logins per account and IP   PARLEY_LOGIN_LIMIT_ACCOUNT_IP  5/minute
    failed logins per account, any IP  PARLEY_LOGIN_LIMIT_ACCOUNT     20/hour  (the lock)
    login attempts per IP, any account PARLEY_LOGIN_LIMIT_IP          30/minute
    registrations per IP               PARLEY_REGISTER_LIMIT_IP       10/hour
    WebSocket connects per IP          PARLEY_WS_CONNECT_LIMIT_IP     60/minute

Each is checked before the password is hashed, so a throttled request costs
no argon2 time; going over one answers 429 `TooManyRequests` with
`Retry-After` (seconds until the window lets one more through). A successful
login clears its account-and-IP count; the account lock lifts when its window
has passed (there is no other way to lift it yet, short of restarting every
instance).

Per instance: the counters live in the process's memory (`limits`' async
MemoryStorage), so N instances behind a balancer allow up to N times each
limit and a restart forgets them. `limits` also has Redis and MongoDB storage;
moving the counters to the shared MongoDB is the next step (docs/SECURITY.md).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from parley.errors import TooManyRequests
from parley.settings import Settings


class SignInThrottle:
    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.account_ip = parse(settings.login_limit_account_ip)
        self.account = parse(settings.login_limit_account)
        self.ip = parse(settings.login_limit_ip)
        self.register_ip = parse(settings.register_limit_ip)
        self.ws_connect_ip = parse(settings.ws_connect_limit_ip)

    async def _refuse_if_spent(self, checks: list[tuple[RateLimitItem, tuple[str, ...]]]) -> None:
        waits = []
        for item, keys in checks:
            if not await self._limiter.test(item, *keys):
                stats = await self._limiter.get_window_stats(item, *keys)
                waits.append(stats.reset_time - time.time())
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise TooManyRequests(
                "Too many attempts; wait before trying again.", retry_after=retry_after
            )

    async def before_login(self, email: str, ip: str) -> None:
        await self._refuse_if_spent(
            [
                (self.account_ip, ("login-failed", email, ip)),
                (self.account, ("login-failed", email)),
                (self.ip, ("login", ip)),
            ]
        )
        await self._limiter.hit(self.ip, "login", ip)

    async def login_failed(self, email: str, ip: str) -> None:
        await self._limiter.hit(self.account_ip, "login-failed", email, ip)
        await self._limiter.hit(self.account, "login-failed", email)

    async def login_succeeded(self, email: str, ip: str) -> None:
        await self._limiter.clear(self.account_ip, "login-failed", email, ip)

    async def before_register(self, ip: str) -> None:
        await self._refuse_if_spent([(self.register_ip, ("register", ip))])
        await self._limiter.hit(self.register_ip, "register", ip)

    async def before_ws_connect(self, ip: str) -> None:
        await self._refuse_if_spent([(self.ws_connect_ip, ("ws-connect", ip))])
        await self._limiter.hit(self.ws_connect_ip, "ws-connect", ip)


class SignInAttempt:
    """The throttle bound to one request's client address."""

    def __init__(self, throttle: SignInThrottle, ip: str) -> None:
        self.throttle = throttle
        self.ip = ip

    async def before_login(self, email: str) -> None:
        await self.throttle.before_login(email.lower(), self.ip)

    async def login_failed(self, email: str) -> None:
        await self.throttle.login_failed(email.lower(), self.ip)

    async def login_succeeded(self, email: str) -> None:
        await self.throttle.login_succeeded(email.lower(), self.ip)

    async def before_register(self) -> None:
        await self.throttle.before_register(self.ip)
