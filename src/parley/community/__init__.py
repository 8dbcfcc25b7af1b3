"""The community: profiles, servers, invites, members and roles, channels.
Everything here lives in PostgreSQL only; one sub-package per sub-domain, each
with `router.py` (HTTP), `service.py` (rules), `schemas.py` (API shapes) and
`repository.py` (SQL)."""
