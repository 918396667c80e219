"""SyncFlow core: the pure library behind the nine stages (no Dagster import here).

>>> from syncflow_core import load_catalog
>>> load_catalog()["order_lines"].key_fields
('order_number', 'line_number', 'release_number')
"""

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.normalize import Prepared, prepare
from syncflow_core.settings import Settings, get_settings

__all__ = ["EntitySpec", "Prepared", "Settings", "get_settings", "load_catalog", "prepare"]
