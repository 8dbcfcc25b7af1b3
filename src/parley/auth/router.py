"""HTTP routes of the auth domain (thin: parse, call the service, render)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from parley.auth import service
from parley.auth.deps import ClientThrottleDep, CurrentClaims, RevocationsDep
from parley.auth.schemas import Login, Registration, SignedIn
from parley.deps import AppStateDep, SessionDep
from parley.openapi import responses

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=201,
    summary="Create an account; returns a token",
    responses=responses(409, 422, 429),
)
async def register(
    body: Registration, session: SessionDep, state: AppStateDep, attempt: ClientThrottleDep
) -> SignedIn:
    return await service.register(session, state.settings, body, attempt)


@router.post(
    "/login",
    summary="Log in with email and password; returns a token",
    responses=responses(401, 422, 429),
)
async def login(
    body: Login, session: SessionDep, state: AppStateDep, attempt: ClientThrottleDep
) -> SignedIn:
    return await service.login(session, state.settings, body, attempt)


@router.post(
    "/logout",
    status_code=204,
    summary="Log out: this token stops working on every instance within seconds",
    responses=responses(401),
)
async def logout(
    session: SessionDep, claims: CurrentClaims, revocations: RevocationsDep
) -> Response:
    await service.logout(session, revocations, claims)
    return Response(status_code=204)


@router.post(
    "/logout-all",
    status_code=204,
    summary="Log out everywhere: every token of your account stops working",
    responses=responses(401),
)
async def logout_all(
    session: SessionDep, state: AppStateDep, claims: CurrentClaims, revocations: RevocationsDep
) -> Response:
    await service.logout_everywhere(session, state.settings, revocations, claims)
    return Response(status_code=204)
