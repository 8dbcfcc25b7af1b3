"""Servers: creation, settings, ownership, invite codes, joining and leaving."""
