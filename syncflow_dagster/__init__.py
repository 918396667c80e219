"""SyncFlow on Dagster: ``dagster dev -m syncflow_dagster`` (or ``workspace.yaml``).

The definitions are built from the catalog and the ``SYNCFLOW_*`` settings when this
package is imported; see :mod:`syncflow_dagster.definitions`.
"""

from syncflow_dagster.definitions import defs

__all__ = ["defs"]
