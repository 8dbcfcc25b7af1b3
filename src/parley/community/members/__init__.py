"""Server members and their roles: the membership checks every server-scoped
rule starts from, role changes and kicks."""
