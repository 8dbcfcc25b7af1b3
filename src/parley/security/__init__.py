"""Security plumbing that wraps the API without knowing its domains: request
limits checked before anything is parsed, response headers, self-hosted docs,
login throttling and password-hashing admission. docs/SECURITY.md is the prose
version (threat model, every limit and its setting).

Nothing here talks to a database.
"""
