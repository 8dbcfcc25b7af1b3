"""Profiles: a person's public name and image, and their own account view."""
