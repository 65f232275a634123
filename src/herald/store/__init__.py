"""Persistence: tables, migrations, repositories and the delivery queue, on SQLite or PostgreSQL."""
