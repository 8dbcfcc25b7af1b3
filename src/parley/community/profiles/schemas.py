"""API shapes of profiles. The email is shown to its owner only."""

from __future__ import annotations

import uuid

from parley.fields import ApiModel, ImageUrl, NameChange, unchanged
from parley.storage.postgres.models import Profile


class PublicProfile(ApiModel):
    id: uuid.UUID
    name: str
    image_url: str | None


class OwnProfile(PublicProfile):
    email: str


class ProfileChanges(ApiModel):
    """`PATCH /api/profiles/me`: leave a field out to keep it; `imageUrl: null` clears it."""

    name: NameChange = unchanged()
    image_url: ImageUrl | None = None


def public_profile(row: Profile) -> PublicProfile:
    return PublicProfile(id=row.id, name=row.name, image_url=row.image_url)


def own_profile(row: Profile) -> OwnProfile:
    return OwnProfile(id=row.id, name=row.name, image_url=row.image_url, email=row.email)
