"""Statements run inside a request's unit of work, each under its operation
name (`execute(session, "DM_GET_BY_PAIR", statement)`), so every query the
domain repositories make is timed, logged and counted like the resilience
layer's own calls. Typed like the `AsyncSession` methods they wrap."""

from __future__ import annotations

from typing import Any, TypeVar, TypeVarTuple, overload

from sqlalchemy import Executable, Result, ScalarResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TypedReturnsRows

from parley.storage.operations import Operations

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
OPERATIONS = "parley_operations"
_UNOBSERVED = Operations("postgresql")


def bind(session: AsyncSession, operations: Operations) -> AsyncSession:
    session.info[OPERATIONS] = operations
    return session


def _operations(session: AsyncSession) -> Operations:
    operations: Operations = session.info.get(OPERATIONS, _UNOBSERVED)
    return operations


@overload
async def execute(  # type: ignore[overload-overlap]
    session: AsyncSession, name: str, statement: TypedReturnsRows[*Ts]
) -> Result[*Ts]: ...
@overload
async def execute(session: AsyncSession, name: str, statement: Executable) -> Result[Any]: ...
async def execute(session: AsyncSession, name: str, statement: Executable) -> Result[Any]:
    with _operations(session).timed(name):
        return await session.execute(statement)


@overload
async def scalar(session: AsyncSession, name: str, statement: TypedReturnsRows[T]) -> T | None: ...
@overload
async def scalar(session: AsyncSession, name: str, statement: Executable) -> Any: ...
async def scalar(session: AsyncSession, name: str, statement: Executable) -> Any:
    with _operations(session).timed(name):
        return await session.scalar(statement)


@overload
async def scalars(
    session: AsyncSession, name: str, statement: TypedReturnsRows[T]
) -> ScalarResult[T]: ...
@overload
async def scalars(session: AsyncSession, name: str, statement: Executable) -> ScalarResult[Any]: ...
async def scalars(session: AsyncSession, name: str, statement: Executable) -> ScalarResult[Any]:
    with _operations(session).timed(name):
        return await session.scalars(statement)
