"""The PostgreSQL form of the schema: (name, script) per migration, named as SQLite's.
Filled by the schema change that follows; until then no PostgreSQL store can be migrated."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = []
