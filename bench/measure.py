"""What the bench scripts measure of processes and of the machine (Linux ``/proc``).

The scripts run as ``python bench/<name>.py``: this directory is then on ``sys.path``, so
they import this module as ``measure``.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds so far of the process ``pid`` (this one by default, every
    thread); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent busy since boot (not idle or waiting on I/O): every
    process together, the emulators and PostgreSQL too."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def peak_mb() -> float:
    """This process's peak resident memory (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
