"""IO managers for the handoffs between stage ops: in memory (in-process runs) or Parquet
files (multiprocess runs)."""

from syncflow_dagster.io_managers.memory import HandoffMemoryIOManager
from syncflow_dagster.io_managers.parquet import HandoffParquetIOManager

__all__ = ["HandoffMemoryIOManager", "HandoffParquetIOManager"]
