"""Who is rate-limited, for what, and how hard (the counting is
`security/ratelimit.py`: shared by every instance through PostgreSQL, per
instance while PostgreSQL is down).

    failed logins per account and IP    PARLEY_LOGIN_LIMIT_ACCOUNT_IP    5/minute
    failed logins per account, any IP   PARLEY_LOGIN_SLOWDOWN_ACCOUNT    5/minute (slow-down)
    failed logins per account, any IP   PARLEY_LOGIN_LIMIT_ACCOUNT       20/hour  (the lock)
    login attempts per IP, any account  PARLEY_LOGIN_LIMIT_IP            30/minute
    registrations per IP                PARLEY_REGISTER_LIMIT_IP         10/hour
    WebSocket connects per IP           PARLEY_WS_CONNECT_LIMIT_IP       60/minute
    WebSocket sign-ins per account      PARLEY_WS_CONNECT_LIMIT_ACCOUNT  30/minute
    message sends per account / per IP  PARLEY_SEND_LIMIT_ACCOUNT / _IP  120 / 600 per minute
    edits and deletes per account / IP  PARLEY_EDIT_LIMIT_ACCOUNT / _IP  60 / 300 per minute

Sign-ins are checked before the password is hashed, so a throttled attempt
costs no argon2 time; messages after the caller's access to the room (order
of checks in docs/SECURITY.md). Going over a limit raises `TooManyRequests`
with `Retry-After` (seconds until the window lets one more through).

Failed logins first slow down, then lock: after five failures for an account
within a minute (from any addresses) each further attempt waits until the
oldest leaves the minute; after twenty within an hour the account is locked
until the oldest leaves the hour. A locked account's attempts, even with the right
password, count nothing, so they never extend the lock. A successful login
clears its account-and-IP count; a password change clears the account's
failures (lifting a lock). Failure counts are never pre-checked locally,
since clearing them on one instance must count everywhere.
"""

from __future__ import annotations

import uuid

from parley.errors import TooManyRequests
from parley.security.ratelimit import Limit, RateLimiter, Rule, retry_after
from parley.settings import Settings


def _refuse_if(wait: float | None, detail: str) -> None:
    if wait is not None:
        raise TooManyRequests(detail, retry_after=retry_after(wait))


TOO_MANY_ATTEMPTS = "Too many attempts; wait before trying again."


class Throttle:
    """Every API rate limit of one process, over its `RateLimiter`."""

    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.account_ip = Rule.parse("login-failed", settings.login_limit_account_ip)
        self.account_slowdown = Rule.parse("login-failed-slow", settings.login_slowdown_account)
        self.account = Rule.parse("login-failed-lock", settings.login_limit_account)
        self.password_check = Rule.parse("password-check", settings.login_slowdown_account)
        self.ip = Rule.parse("login", settings.login_limit_ip)
        self.register_ip = Rule.parse("register", settings.register_limit_ip)
        self.ws_connect_ip = Rule.parse("ws-connect", settings.ws_connect_limit_ip)
        self.ws_connect_account = Rule.parse("ws-auth", settings.ws_connect_limit_account)
        self.send_account = Rule.parse("send", settings.send_limit_account)
        self.send_ip = Rule.parse("send-ip", settings.send_limit_ip)
        self.edit_account = Rule.parse("edit", settings.edit_limit_account)
        self.edit_ip = Rule.parse("edit-ip", settings.edit_limit_ip)

    def _failures(self, email: str, ip: str) -> list[Limit]:
        return [
            Limit(self.account_ip, f"{email}|{ip}"),
            Limit(self.account_slowdown, email),
            Limit(self.account, email),
        ]

    async def before_login(self, email: str, ip: str) -> None:
        _refuse_if(await self.limiter.peek(self._failures(email, ip)), TOO_MANY_ATTEMPTS)
        _refuse_if(await self.limiter.hit([Limit(self.ip, ip)]), TOO_MANY_ATTEMPTS)

    async def login_failed(self, email: str, ip: str) -> None:
        await self.limiter.hit(self._failures(email, ip))

    def _password_checks(self, email: str, ip: str) -> list[Limit]:
        return [Limit(self.account_ip, f"{email}|{ip}"), Limit(self.password_check, email)]

    async def before_password_check(self, email: str, ip: str) -> None:
        """A password change checks the current password. Wrong guesses have a
        per-account limit of their own (as many as the login slow-down
        allows), so failed logins elsewhere never stop the owner from changing
        the password, which is how a locked account is unlocked."""
        _refuse_if(await self.limiter.peek(self._password_checks(email, ip)), TOO_MANY_ATTEMPTS)

    async def password_check_failed(self, email: str, ip: str) -> None:
        """A wrong current password: one more guess, and a failed login."""
        await self.limiter.hit([*self._failures(email, ip), Limit(self.password_check, email)])

    async def login_succeeded(self, email: str, ip: str) -> None:
        await self.limiter.clear([Limit(self.account_ip, f"{email}|{ip}")])

    async def password_changed(self, email: str) -> None:
        """The account's failures are forgotten: a lock lifts."""
        await self.limiter.clear(
            [Limit(self.account_slowdown, email.lower()), Limit(self.account, email.lower())]
        )

    async def before_register(self, ip: str) -> None:
        _refuse_if(await self.limiter.hit([Limit(self.register_ip, ip)]), TOO_MANY_ATTEMPTS)

    async def before_ws_connect(self, ip: str) -> None:
        wait = await self.limiter.hit([Limit(self.ws_connect_ip, ip)])
        _refuse_if(wait, "Too many connections; wait before reconnecting.")

    async def before_ws_sign_in(self, profile_id: uuid.UUID) -> None:
        wait = await self.limiter.hit([Limit(self.ws_connect_account, str(profile_id))])
        _refuse_if(wait, "Too many connections; wait before reconnecting.")

    async def before_send(self, profile_id: uuid.UUID, ip: str) -> None:
        limits = [Limit(self.send_account, str(profile_id)), Limit(self.send_ip, ip)]
        wait = await self.limiter.hit(limits)
        _refuse_if(wait, "Too many messages; wait before sending more.")

    async def before_edit(self, profile_id: uuid.UUID, ip: str) -> None:
        limits = [Limit(self.edit_account, str(profile_id)), Limit(self.edit_ip, ip)]
        wait = await self.limiter.hit(limits)
        _refuse_if(wait, "Too many changes; wait before editing more.")


class ClientThrottle:
    """The throttle bound to one request's client address."""

    def __init__(self, throttle: Throttle, ip: str) -> None:
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

    async def before_password_check(self, email: str) -> None:
        await self.throttle.before_password_check(email.lower(), self.ip)

    async def password_check_failed(self, email: str) -> None:
        await self.throttle.password_check_failed(email.lower(), self.ip)

    async def password_changed(self, email: str) -> None:
        await self.throttle.password_changed(email)

    async def before_send(self, profile_id: uuid.UUID) -> None:
        await self.throttle.before_send(profile_id, self.ip)

    async def before_edit(self, profile_id: uuid.UUID) -> None:
        await self.throttle.before_edit(profile_id, self.ip)
