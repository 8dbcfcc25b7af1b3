"""API shapes of server members."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from parley.community.profiles.schemas import PublicProfile, public_profile
from parley.fields import ApiModel
from parley.storage.postgres.models import Member, Profile

Role = Literal["ADMIN", "MODERATOR", "GUEST"]


class MemberOut(ApiModel):
    id: uuid.UUID
    server_id: uuid.UUID
    role: Role
    profile: PublicProfile
    created_at: datetime


class RoleChange(ApiModel):
    role: Role


def member_out(member: Member, profile: Profile) -> MemberOut:
    return MemberOut(
        id=member.id,
        server_id=member.server_id,
        role=member.role,
        profile=public_profile(profile),
        created_at=member.created_at,
    )
