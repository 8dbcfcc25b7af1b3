"""The authenticated caller, from `Authorization: Bearer <jwt>`. No database:
the signature and expiry are checked locally and the session id against this
instance's in-memory revocation list (parley.security.sessions).

The dependencies are `async def` although none awaits: FastAPI runs a plain
`def` dependency in its thread pool, a thread hop per dependency per request
(about a quarter of a send's profile was those threads)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.auth.tokens import Claims, InvalidToken, verify_claims
from parley.deps import AppStateDep
from parley.errors import Unauthorized
from parley.security.sessions import RevocationList
from parley.security.throttle import ClientThrottle
from parley.state import AppState

# Declares the bearer scheme in the OpenAPI document (and the docs' Authorize
# button); the header is read below so every failure is Parley's own 401.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT")
BearerScheme = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


async def get_revocations(state: AppStateDep) -> RevocationList:
    return state.revocations


RevocationsDep = Annotated[RevocationList, Depends(get_revocations)]


async def client_throttle(request: Request, state: AppStateDep) -> ClientThrottle:
    """The rate limits bound to the client address: the socket's peer (uvicorn
    rewrites it from X-Forwarded-For only for proxies in `--forwarded-allow-ips`)."""
    ip = request.client.host if request.client else "unknown"
    return ClientThrottle(state.throttle, ip)


ClientThrottleDep = Annotated[ClientThrottle, Depends(client_throttle)]


async def current_claims(
    request: Request, state: AppStateDep, _scheme: BearerScheme = None
) -> Claims:
    return claims_of(request, state)


def claims_of(request: Request, state: AppState) -> Claims:
    """The caller's verified claims, or the 401 to answer with."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.")
    try:
        claims = verify_claims(token.strip(), state.settings.jwt_verification_keys())
    except InvalidToken:
        raise Unauthorized("The token is invalid or has expired.") from None
    if state.revocations.is_revoked(claims):
        raise Unauthorized("This session has been logged out.")
    return claims


CurrentClaims = Annotated[Claims, Depends(current_claims)]


async def current_profile_id(claims: CurrentClaims) -> uuid.UUID:
    return claims.profile_id


CurrentProfileId = Annotated[uuid.UUID, Depends(current_profile_id)]
