"""Persistence in a relational database (PostgreSQL in production, SQLite for development) with SQLAlchemy Core."""
