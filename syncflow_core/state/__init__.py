"""The state store: SQLAlchemy Core tables in schema ``bridge`` and their repositories."""
