"""Authentication before the body: FastAPI parses a JSON body before it runs
any dependency, so without this a `{bad` body sent without a token answered
400/422 and told an anonymous caller how the endpoint parses. When the body
could not be parsed, the error handlers ask `auth_failure` first: if the
matched route needs a caller and the request has no valid token, the answer is
the 401 the route would have given.

The check is the same function the route's dependency runs (no database);
it runs on error paths only, so the dependency tree is walked uncached."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant

from parley.auth.deps import claims_of, current_claims
from parley.errors import Unauthorized


def _needs_caller(dependant: Dependant) -> bool:
    return any(sub.call is current_claims or _needs_caller(sub) for sub in dependant.dependencies)


def auth_failure(request: Request) -> Unauthorized | None:
    """The 401 the matched route would answer this request with, if any."""
    route: Any = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant) or not _needs_caller(dependant):
        return None
    state = getattr(request.app.state, "parley", None)
    if state is None:
        return None
    try:
        claims_of(request, state)
    except Unauthorized as exc:
        return exc
    return None
