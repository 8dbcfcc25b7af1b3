"""HTTP routes of the community domain: profiles, servers, invites, members and
channels. Each sub-domain keeps its own thin router; this one gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from parley.community.channels.router import router as channels_router
from parley.community.members.router import router as members_router
from parley.community.profiles.router import router as profiles_router
from parley.community.servers.router import router as servers_router

router = APIRouter()
for _sub_router in (profiles_router, servers_router, members_router, channels_router):
    router.include_router(_sub_router)
