"""Rooms: where messages are posted. A DM conversation, a group conversation or a
TEXT channel; room ids are unique across the three kinds (all UUIDv7)."""
