"""HTTP routes for profiles: `/api/profiles/me` and `/api/profiles/{id}`."""

from __future__ import annotations

from fastapi import APIRouter

from parley.auth import service as auth_service
from parley.auth.deps import ClientThrottleDep, CurrentClaims, CurrentProfileId, RevocationsDep
from parley.auth.schemas import PasswordChange, SignedIn
from parley.community.profiles import service
from parley.community.profiles.schemas import (
    OwnProfile,
    ProfileChanges,
    PublicProfile,
    own_profile,
    public_profile,
)
from parley.deps import AppStateDep, SessionDep
from parley.openapi import links, responses
from parley.paths import PathId, id_or_404

router = APIRouter(prefix="/api/profiles", tags=["profiles"], responses=responses(401))


@router.get(
    "/me",
    summary="Your own profile, with your email",
    responses=links(200, get_profile={"profile_id": "$response.body#/id"}),
)
async def get_me(session: SessionDep, caller: CurrentProfileId) -> OwnProfile:
    return own_profile(await service.get_own_profile(session, caller))


@router.patch("/me", summary="Change your name or image", responses=responses(409, 422))
async def patch_me(
    body: ProfileChanges, session: SessionDep, state: AppStateDep, caller: CurrentProfileId
) -> OwnProfile:
    changes = body.model_dump(exclude_unset=True)
    profile = await service.change_profile(session, caller, changes, state.replication.directory)
    return own_profile(profile)


@router.get(
    "/{profile_id}", summary="Someone who shares a server with you", responses=responses(404)
)
async def get_profile(
    profile_id: PathId, session: SessionDep, caller: CurrentProfileId
) -> PublicProfile:
    target = id_or_404(profile_id, "profile")
    return public_profile(await service.get_visible_profile(session, caller, target))


@router.patch(
    "/me/password",
    summary="Change your password; every other session is logged out",
    responses=responses(403, 409, 422, 429),
)
async def change_password(
    body: PasswordChange,
    session: SessionDep,
    state: AppStateDep,
    claims: CurrentClaims,
    revocations: RevocationsDep,
    throttle: ClientThrottleDep,
) -> SignedIn:
    return await auth_service.change_password(
        session, state.settings, revocations, throttle, claims, body
    )
