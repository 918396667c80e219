"""Errors of the state store: types, not strings."""

from __future__ import annotations


class StateError(Exception):
    """Base class of state-store errors."""


class UnsupportedDatabaseError(StateError):
    """The URL names a database or driver the state store does not support."""


class MigrationsNotFoundError(StateError):
    """The Alembic ``migrations/`` directory could not be located."""


class SchemaNotCurrentError(StateError):
    """The database is not at the migrations' head revision: run ``StateStore.upgrade()``."""


class UnknownBatchError(StateError, KeyError):
    """No ``sync_batches`` row has this batch uid."""


class FrameShapeError(StateError, ValueError):
    """A frame handed to a bulk path lacks a required column or has a wrong type."""
