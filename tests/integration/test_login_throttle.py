"""Login and registration throttling (issue 15): failed logins per account and
IP, per account from any IP (a lock), attempts per IP, registrations per IP;
429 with Retry-After before any password is hashed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from parley.app import create_app
from parley.settings import Settings

PASSWORD = "correct horse battery"
EMAIL = "ada@example.com"


@pytest.fixture
async def throttled_app(migrated: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """An app with small limits, on the database the `app` fixture cleaned."""
    del app
    settings = migrated.model_copy(
        update={
            "login_limit_account_ip": "3/minute",
            "login_limit_account": "5/hour",
            "login_limit_ip": "8/minute",
            "register_limit_ip": "2/hour",
        }
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def client_from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://parley.test")


async def login(http: httpx.AsyncClient, password: str, email: str = EMAIL) -> httpx.Response:
    return await http.post("/api/auth/login", json={"email": email, "password": password})


async def test_failed_logins_per_account_and_ip_then_429(throttled_app: FastAPI) -> None:
    async with client_from(throttled_app, "10.0.0.1") as http:
        body = {"email": EMAIL, "password": PASSWORD, "name": "Ada"}
        assert (await http.post("/api/auth/register", json=body)).status_code == 201
        for _ in range(3):
            assert (await login(http, "wrong password")).status_code == 401
        refused = await login(http, PASSWORD)  # even the right password waits
        assert refused.status_code == 429
        assert refused.json()["error"] == "TooManyRequests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    async with client_from(throttled_app, "10.0.0.2") as other:
        assert (await login(other, PASSWORD)).status_code == 200  # another IP is not locked


async def test_a_success_resets_the_account_ip_count(throttled_app: FastAPI) -> None:
    async with client_from(throttled_app, "10.0.0.3") as http:
        body = {"email": EMAIL, "password": PASSWORD, "name": "Ada"}
        assert (await http.post("/api/auth/register", json=body)).status_code == 201
        for _ in range(2):
            assert (await login(http, "wrong password")).status_code == 401
        assert (await login(http, PASSWORD)).status_code == 200
        for _ in range(2):
            assert (await login(http, "wrong password")).status_code == 401
        assert (await login(http, PASSWORD)).status_code == 200


async def test_failures_from_many_ips_lock_the_account(throttled_app: FastAPI) -> None:
    async with client_from(throttled_app, "10.0.1.0") as http:
        body = {"email": EMAIL, "password": PASSWORD, "name": "Ada"}
        assert (await http.post("/api/auth/register", json=body)).status_code == 201
    for i in range(5):
        async with client_from(throttled_app, f"10.0.1.{i + 1}") as http:
            assert (await login(http, "wrong password")).status_code == 401
    async with client_from(throttled_app, "10.0.1.99") as http:
        locked = await login(http, PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 60


async def test_attempts_per_ip_across_accounts(throttled_app: FastAPI) -> None:
    async with client_from(throttled_app, "10.0.2.1") as http:
        for i in range(8):
            response = await login(http, "wrong password", email=f"user{i}@example.com")
            assert response.status_code == 401
        assert (await login(http, "x" * 8, email="another@example.com")).status_code == 429


async def test_registrations_per_ip(throttled_app: FastAPI) -> None:
    async with client_from(throttled_app, "10.0.3.1") as http:
        for i in range(2):
            body = {"email": f"u{i}@example.com", "password": PASSWORD, "name": "U"}
            assert (await http.post("/api/auth/register", json=body)).status_code == 201
        body = {"email": "u9@example.com", "password": PASSWORD, "name": "U"}
        refused = await http.post("/api/auth/register", json=body)
        assert refused.status_code == 429
        assert refused.headers["retry-after"]


async def test_failures_from_many_ips_slow_down_before_the_lock(
    migrated: Settings, app: FastAPI
) -> None:
    """Two failures a minute from anywhere, then each attempt waits that
    minute out (the lock, four an hour, is tested with a clock in
    tests/unit/test_throttle.py)."""
    del app
    settings = migrated.model_copy(
        update={"login_slowdown_account": "2/minute", "login_limit_account": "4/hour"}
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        async with client_from(application, "10.0.4.0") as http:
            body = {"email": EMAIL, "password": PASSWORD, "name": "Ada"}
            assert (await http.post("/api/auth/register", json=body)).status_code == 201
        for i in range(2):
            async with client_from(application, f"10.0.4.{i + 1}") as http:
                assert (await login(http, "wrong password")).status_code == 401
        async with client_from(application, "10.0.4.99") as http:
            slowed = await login(http, PASSWORD)
            assert slowed.status_code == 429
            assert 1 <= int(slowed.headers["retry-after"]) <= 60


async def test_a_password_change_lifts_the_lock(throttled_app: FastAPI) -> None:
    async with client_from(throttled_app, "10.0.5.0") as http:
        body = {"email": EMAIL, "password": PASSWORD, "name": "Ada"}
        registered = await http.post("/api/auth/register", json=body)
        token = registered.json()["token"]
    for i in range(5):
        async with client_from(throttled_app, f"10.0.5.{i + 1}") as http:
            assert (await login(http, "wrong password")).status_code == 401
    async with client_from(throttled_app, "10.0.5.99") as http:
        assert (await login(http, PASSWORD)).status_code == 429
        change = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
        changed = await http.patch(
            "/api/profiles/me/password", json=change, headers={"Authorization": f"Bearer {token}"}
        )
        assert changed.status_code == 200, changed.text
        assert (await login(http, "a brand new passphrase")).status_code == 200


async def test_wrong_current_passwords_are_throttled_like_logins(
    throttled_app: FastAPI,
) -> None:
    """A stolen token must not be a way to guess the password: wrong current
    passwords on a password change count as failed logins, per address."""
    async with client_from(throttled_app, "10.0.6.1") as http:
        body = {"email": EMAIL, "password": PASSWORD, "name": "Ada"}
        token = (await http.post("/api/auth/register", json=body)).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        guess = {"currentPassword": "a wrong guess", "newPassword": "mine now, mine"}
        for _ in range(3):
            answer = await http.patch("/api/profiles/me/password", json=guess, headers=bearer)
            assert answer.status_code == 403, answer.text
        refused = await http.patch("/api/profiles/me/password", json=guess, headers=bearer)
        assert refused.status_code == 429
        assert (await login(http, PASSWORD)).status_code == 429  # the same count
