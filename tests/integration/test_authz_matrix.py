"""The authorization matrix: every community and rooms endpoint, called by the
server's owner, an ADMIN, a MODERATOR, a GUEST, a member of another server only,
an anonymous caller and a caller with a forged token, each getting the status
the rules promise. Then the same endpoints fed hostile ids and values, which
must never produce a 500.

Each case runs in a fresh world (the database is emptied between tests):

    server S (owner O)   O: ADMIN, A: ADMIN, M: MODERATOR, G: GUEST
                         channels: general, random
    server S2            X (the outsider) only
    group R              O: ADMIN, A and M: GUEST
    DM D                 O and G
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import insert, select

from parley.auth.tokens import issue_token
from parley.ids import new_id
from parley.state import AppState
from parley.storage.postgres.models import Channel, Profile, Server
from tests.factories import Person, make_dm, make_group, make_person, make_server, member_id_of

ROLES = ("owner", "admin", "moderator", "guest", "outsider", "anonymous", "forged")
LOGIN_PASSWORD = "a good password"


@cache
def _login_hash() -> str:
    return PasswordHasher().hash(LOGIN_PASSWORD)


@dataclass
class World:
    people: dict[str, Person]
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        if role == "forged":
            token = issue_token(
                self.people["owner"].id, "a-different-secret-of-at-least-32-bytes", 60
            )
            return {"Authorization": f"Bearer {token}"}
        return self.people[role].headers


async def build_world(state: AppState) -> World:
    owner, admin, mod, guest, outsider = [
        await make_person(state, name) for name in ("Olga", "Abe", "Mia", "Gus", "Xan")
    ]
    people = {"owner": owner, "admin": admin, "moderator": mod, "guest": guest}
    world = World({**people, "outsider": outsider})
    server_id, general = await make_server(
        state, owner, {admin: "ADMIN", mod: "MODERATOR", guest: "GUEST"}
    )
    await make_server(state, outsider)
    random_id = new_id()
    async with state.postgres.sessionmaker.begin() as session:
        await session.execute(
            insert(Channel).values(id=random_id, server_id=server_id, name="random", type="TEXT")
        )
        login_email = f"{uuid.uuid4().hex}@example.com"
        await session.execute(
            insert(Profile).values(
                id=new_id(), email=login_email, name="Lou", password_hash=_login_hash()
            )
        )
        invite = await session.scalar(select(Server.invite_code).where(Server.id == server_id))
    world.ids = {
        "server": str(server_id),
        "general": str(general),
        "random": str(random_id),
        "invite": str(invite),
        "login_email": login_email,
        "group": str(await make_group(state, owner, [admin, mod])),
        "dm": str(await make_dm(state, owner, guest)),
        **{f"p_{role}": str(person.id) for role, person in people.items()},
        **{
            f"m_{role}": str(await member_id_of(state, server_id, person))
            for role, person in people.items()
        },
    }
    return world


Body = Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # formatted with World.ids
    # owner, admin, moderator, guest, outsider, anonymous (forged: as anonymous)
    expected: tuple[int, int, int, int, int, int]
    body: Body = None

    def status_for(self, role: str) -> int:
        return self.expected[ROLES.index("anonymous" if role == "forged" else role)]


def _unique_email(_: World) -> dict[str, Any]:
    return {"email": f"{uuid.uuid4().hex}@example.com", "password": "password1", "name": "N"}


def _ids(*keys: str) -> Callable[[World], list[str]]:
    return lambda w: [w.ids[key] for key in keys]


CASES = [
    # accounts: no token needed
    Case("register", "POST", "/api/auth/register", (201,) * 6, _unique_email),
    Case("login", "POST", "/api/auth/login", (200,) * 6,
         lambda w: {"email": w.ids["login_email"], "password": LOGIN_PASSWORD}),
    Case("logout", "POST", "/api/auth/logout", (204, 204, 204, 204, 204, 401)),
    Case("logout-all", "POST", "/api/auth/logout-all", (204, 204, 204, 204, 204, 401)),
    # profiles
    Case("me", "GET", "/api/profiles/me", (200, 200, 200, 200, 200, 401)),
    # (the factories' people have no usable password hash: every current password is wrong)
    Case("change-password", "PATCH", "/api/profiles/me/password",
         (403, 403, 403, 403, 403, 401),
         lambda w: {"currentPassword": "whatever1", "newPassword": "a new password"}),
    Case("patch-me", "PATCH", "/api/profiles/me", (200, 200, 200, 200, 200, 401),
         lambda w: {"name": "New name"}),
    Case("profile", "GET", "/api/profiles/{p_guest}", (200, 200, 200, 200, 404, 401)),
    # servers
    Case("create-server", "POST", "/api/servers", (201, 201, 201, 201, 201, 401),
         lambda w: {"name": "Another"}),
    Case("list-servers", "GET", "/api/servers", (200, 200, 200, 200, 200, 401)),
    Case("get-server", "GET", "/api/servers/{server}", (200, 200, 200, 200, 404, 401)),
    Case("patch-server", "PATCH", "/api/servers/{server}", (200, 200, 403, 403, 404, 401),
         lambda w: {"name": "Renamed"}),
    Case("delete-server", "DELETE", "/api/servers/{server}", (204, 403, 403, 403, 404, 401)),
    Case("transfer", "POST", "/api/servers/{server}/transfer-ownership",
         (200, 403, 403, 403, 404, 401), lambda w: {"memberId": w.ids["m_guest"]}),
    Case("invite-code", "POST", "/api/servers/{server}/invite-code",
         (200, 200, 200, 403, 404, 401)),
    Case("join", "POST", "/api/invites/{invite}", (200, 200, 200, 200, 200, 401)),
    Case("leave", "POST", "/api/servers/{server}/leave", (409, 204, 204, 204, 404, 401)),
    # members
    Case("role-of-guest", "PATCH", "/api/members/{m_guest}", (200, 200, 403, 403, 404, 401),
         lambda w: {"role": "MODERATOR"}),
    Case("role-of-owner", "PATCH", "/api/members/{m_owner}", (403, 403, 403, 403, 404, 401),
         lambda w: {"role": "GUEST"}),
    Case("kick-guest", "DELETE", "/api/members/{m_guest}", (204, 204, 204, 403, 404, 401)),
    Case("kick-moderator", "DELETE", "/api/members/{m_moderator}",
         (204, 204, 403, 403, 404, 401)),
    Case("kick-admin", "DELETE", "/api/members/{m_admin}", (204, 403, 403, 403, 404, 401)),
    Case("kick-owner", "DELETE", "/api/members/{m_owner}", (403, 403, 403, 403, 404, 401)),
    # channels
    Case("create-channel", "POST", "/api/servers/{server}/channels",
         (201, 201, 201, 403, 404, 401), lambda w: {"name": "new", "type": "VIDEO"}),
    Case("patch-channel", "PATCH", "/api/channels/{random}", (200, 200, 200, 403, 404, 401),
         lambda w: {"name": "renamed"}),
    Case("delete-channel", "DELETE", "/api/channels/{random}", (204, 204, 204, 403, 404, 401)),
    Case("patch-general", "PATCH", "/api/channels/{general}", (409, 409, 409, 403, 404, 401),
         lambda w: {"name": "lobby"}),
    # rooms
    Case("open-dm", "POST", "/api/rooms", (200, 201, 201, 422, 404, 401),
         lambda w: {"type": "dm", "profileId": w.ids["p_guest"]}),
    Case("create-group", "POST", "/api/rooms", (201, 422, 201, 422, 404, 401),
         lambda w: {"type": "group", "profileIds": _ids("p_guest", "p_admin")(w)}),
    Case("list-rooms", "GET", "/api/rooms", (200, 200, 200, 200, 200, 401)),
    Case("get-channel-room", "GET", "/api/rooms/{general}", (200, 200, 200, 200, 404, 401)),
    Case("get-group", "GET", "/api/rooms/{group}", (200, 200, 200, 404, 404, 401)),
    Case("patch-group", "PATCH", "/api/rooms/{group}", (200, 403, 403, 404, 404, 401),
         lambda w: {"name": "Team"}),
    Case("add-to-group", "POST", "/api/rooms/{group}/members", (200, 403, 403, 404, 404, 401),
         lambda w: {"profileIds": _ids("p_guest")(w)}),
    Case("remove-from-group", "DELETE", "/api/rooms/{group}/members/{p_moderator}",
         (204, 403, 204, 404, 404, 401)),
    Case("get-dm", "GET", "/api/rooms/{dm}", (200, 404, 404, 200, 404, 401)),
    Case("patch-dm", "PATCH", "/api/rooms/{dm}", (403, 404, 404, 403, 404, 401),
         lambda w: {"name": "x"}),
    Case("add-to-dm", "POST", "/api/rooms/{dm}/members", (403, 404, 404, 403, 404, 401),
         lambda w: {"profileIds": _ids("p_admin")(w)}),
    Case("leave-dm", "DELETE", "/api/rooms/{dm}/members/{p_guest}",
         (403, 404, 404, 403, 404, 401)),
    # the change feed: whoever is in the room
    Case("changes-channel", "GET", "/api/rooms/{general}/changes",
         (200, 200, 200, 200, 404, 401)),
    Case("changes-group", "GET", "/api/rooms/{group}/changes", (200, 200, 200, 404, 404, 401)),
    Case("changes-dm", "GET", "/api/rooms/{dm}/changes", (200, 404, 404, 200, 404, 401)),
]  # fmt: skip


async def call(client: httpx.AsyncClient, world: World, case: Case, role: str) -> httpx.Response:
    body = case.body(world) if case.body else None
    return await client.request(
        case.method, case.path.format(**world.ids), json=body, headers=world.headers(role)
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_matrix(client: httpx.AsyncClient, state: AppState, case: Case) -> None:
    """Every role calls the endpoint, each in a world of its own once a call has
    changed something (worlds never overlap, so no cleanup is needed between)."""
    world = await build_world(state)
    wrong = []
    for role in ROLES:
        response = await call(client, world, case, role)
        if response.status_code != case.status_for(role):
            wrong.append(f"{role}: {response.status_code} {response.text}")
        elif response.status_code >= 400:
            assert set(response.json()) == {"error", "detail"}
        if case.method != "GET" and response.status_code < 300:
            world = await build_world(state)
    assert not wrong, "\n".join(wrong)


def test_matrix_covers_every_community_and_rooms_route(app: FastAPI) -> None:
    prefixes = ("/api/auth", "/api/profiles", "/api/servers", "/api/invites", "/api/members",
                "/api/channels", "/api/rooms")  # fmt: skip
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(prefixes) and not path.startswith("/api/rooms/{room_id}/messages")
        for method in operations
    }
    covered = {(case.method, _template(case.path)) for case in CASES}
    assert routes == covered


_PARAMETER_AFTER = {
    "servers": "server_id", "channels": "channel_id", "invites": "code",
    "rooms": "room_id", "profiles": "profile_id", "members": "member_id",
}  # fmt: skip


def _template(path: str) -> str:
    """`/api/servers/{server}/leave` → `/api/servers/{server_id}/leave`, as routed."""
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if segment.startswith("{"):
            name = _PARAMETER_AFTER[segments[index - 1]]
            if segments[1:3] == ["api", "rooms"] and name == "member_id":
                name = "profile_id"  # /api/rooms/{room_id}/members/{profile_id}
            segments[index] = "{" + name + "}"
    return "/".join(segments)


# --- hostile input: never a 500 ---------------------------------------------

HOSTILE_VALUES: list[Any] = [
    None, 0, -1, 1e308, True, [], {}, [None], "", " ", "\x00", "a\x00b", "\ud800",
    "x" * 101, "x" * 5000, "💥" * 101, "' OR 1=1 --", "null", "../../etc/passwd",
    "00000000-0000-0000-0000-000000000000", "javascript:alert(1)",
]  # fmt: skip
QUICK_HOSTILE_VALUES: list[Any] = [None, 0, [], {}, "", "\x00", "a\x00b", "\ud800", "x" * 5000]
HOSTILE_SEGMENTS = [
    "%00", "null", "%F0%9F%92%A5", "a" * 1000, "%27%20OR%201%3D1", "-1", "0",
    "00000000-0000-0000-0000-000000000000", "%E2%80%AE", "%C0%AF",
]  # fmt: skip


@pytest.mark.parametrize("case", [c for c in CASES if c.body], ids=lambda case: case.name)
async def test_hostile_body_values_never_cause_a_500(
    client: httpx.AsyncClient, state: AppState, case: Case
) -> None:
    world = await build_world(state)
    assert case.body is not None
    good = case.body(world)
    # Account bodies that pass validation cost an argon2 hash each: try only
    # values that validation must refuse.
    values = QUICK_HOSTILE_VALUES if case.path.startswith("/api/auth") else HOSTILE_VALUES
    for key in good:
        for value in values:
            body = {**good, key: value}
            response = await client.request(
                case.method,
                case.path.format(**world.ids),
                content=json.dumps(body),  # ASCII-escaped, so lone surrogates survive
                headers={**world.headers("owner"), "Content-Type": "application/json"},
            )
            # 503 is a database deadline on a loaded machine, not the input's doing.
            refused = response.status_code < 500 or response.json()["error"] == "StorageUnavailable"
            assert refused, (key, value, response.text)
            assert set(response.json()) >= {"error"} or response.status_code < 300


@pytest.mark.parametrize("case", [c for c in CASES if "{" in c.path], ids=lambda c: c.name)
async def test_hostile_path_segments_are_404(
    client: httpx.AsyncClient, state: AppState, case: Case
) -> None:
    world = await build_world(state)
    body = case.body(world) if case.body else None
    keys = [key for key in world.ids if "{" + key + "}" in case.path]
    for position, key in enumerate(keys):
        for segment in HOSTILE_SEGMENTS:
            path = case.path.format(**{**world.ids, key: segment})
            response = await client.request(
                case.method, path, json=body, headers=world.headers("owner")
            )
            # The room is found, so a bad member id in it may meet the DM rule first.
            allowed = {404} if position == 0 else {403, 404}
            assert response.status_code in allowed, (path, response.text)
