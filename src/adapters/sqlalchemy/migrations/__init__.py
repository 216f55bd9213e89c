"""Alembic migrations of the portal's schema (run them with adapters.sqlalchemy.migrate.upgrade)."""
