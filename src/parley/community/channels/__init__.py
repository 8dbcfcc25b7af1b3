"""Channels of a server: creation, renaming, retyping and deletion."""
