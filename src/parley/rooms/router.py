"""HTTP routes of the rooms domain (thin: parse, call the service, render)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
