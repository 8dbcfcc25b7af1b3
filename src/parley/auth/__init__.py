"""Accounts and authentication: argon2id passwords, HS256 JWTs (no database needed
to verify a token, so DMs keep working while PostgreSQL is down)."""
