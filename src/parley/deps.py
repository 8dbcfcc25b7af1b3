"""Typed FastAPI dependencies: the app state and the per-request unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from parley.state import AppState


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.parley
    return state


AppStateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: AppStateDep, request: Request) -> AsyncIterator[AsyncSession]:
    """One PostgreSQL session per request, committed before the response is sent."""
    async with state.postgres.unit_of_work(f"{request.method} {request.url.path}") as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
