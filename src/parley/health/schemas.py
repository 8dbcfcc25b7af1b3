"""The `/api/health` body, for the OpenAPI document (the service builds it as a
dict; `databases` and `details` are described in docs/OPERATIONS.md)."""

from __future__ import annotations

from typing import Any

from parley.fields import ApiModel
from parley.health.service import HealthStatus


class HealthReport(ApiModel):
    status: HealthStatus
    databases: dict[str, Any]
    message: str
    details: dict[str, Any]
    instance: str
