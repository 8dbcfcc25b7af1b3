"""HTTP routes of the messages domain (thin: parse, call the service, render)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
