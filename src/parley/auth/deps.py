"""The authenticated caller, from `Authorization: Bearer <jwt>`. No database."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.auth.tokens import InvalidToken, verify_token
from parley.deps import AppStateDep
from parley.errors import Unauthorized

# Declares the bearer scheme in the OpenAPI document (and the docs' Authorize
# button); the header is read below so every failure is Parley's own 401.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT")
BearerScheme = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def current_profile_id(
    request: Request, state: AppStateDep, _scheme: BearerScheme = None
) -> uuid.UUID:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.")
    try:
        return verify_token(token.strip(), state.settings.jwt_secret.get_secret_value())
    except InvalidToken:
        raise Unauthorized("The token is invalid or has expired.") from None


CurrentProfileId = Annotated[uuid.UUID, Depends(current_profile_id)]
