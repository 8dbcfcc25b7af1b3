"""HTTP routes for server members: change a role, kick."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from parley.auth.deps import CurrentProfileId
from parley.community.members import service
from parley.community.members.schemas import MemberOut, RoleChange
from parley.deps import AppStateDep, SessionDep
from parley.openapi import responses
from parley.paths import PathId, id_or_404

router = APIRouter(prefix="/api/members", tags=["members"], responses=responses(401, 403, 404, 409))


@router.patch("/{member_id}", summary="Change a member's role (ADMIN)", responses=responses(422))
async def change_role(
    member_id: PathId, body: RoleChange, session: SessionDep, caller: CurrentProfileId
) -> MemberOut:
    return await service.change_member_role(
        session, caller, id_or_404(member_id, "member"), body.role
    )


@router.delete(
    "/{member_id}",
    status_code=204,
    summary="Kick a member (ADMIN, or MODERATOR kicking a GUEST)",
)
async def kick(
    member_id: PathId, session: SessionDep, state: AppStateDep, caller: CurrentProfileId
) -> Response:
    await service.kick_member(session, state, caller, id_or_404(member_id, "member"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
