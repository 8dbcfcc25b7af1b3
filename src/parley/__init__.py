"""Parley: a chat backend whose direct messages survive the loss of either database."""
