"""Running totals in node_exporter's textfile-collector directory, one file per entity.

node_exporter (``--collector.textfile.directory=DIR``) reads every ``*.prom`` file in DIR
at each scrape. SyncFlow keeps ``syncflow_<entity>.prom`` there: the running totals of that
entity's batches on this host. Each batch, under an exclusive lock on the entity, reads the
file, adds its own numbers and replaces the file atomically (temporary file, fsync,
rename), so a scrape never sees half a file and two concurrent batches never lose each
other's counts.

>>> import tempfile
>>> from syncflow_core.observability.snapshot import MetricsSnapshot
>>> batch = MetricsSnapshot.parse('# TYPE jobs_total counter\\njobs_total{entity="items"} 1\\n')
>>> directory = Path(tempfile.mkdtemp())
>>> _ = accumulate_textfile(directory, "items", batch)
>>> accumulate_textfile(directory, "items", batch).value("jobs_total", entity="items")
2.0
>>> sorted(p.name for p in directory.glob("*.prom"))
['syncflow_items.prom']
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from syncflow_core.observability.snapshot import MetricsSnapshot

log = logging.getLogger(__name__)

_ENTITY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def textfile_path(directory: Path, entity: str) -> Path:
    """``DIR/syncflow_<entity>.prom``; refuses a name that could leave the directory."""
    if not _ENTITY_NAME.match(entity):
        raise ValueError(f"entity name {entity!r} cannot name a metrics file")
    return directory / f"syncflow_{entity}.prom"


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory lock held for the read-add-write of one entity's file (POSIX flock)."""
    with open(path, "a+b") as handle:
        if sys.platform != "win32":
            import fcntl  # POSIX only; Windows runs without the lock

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # the lock goes with the file handle


def write_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` by ``content`` so that a reader sees the old file or the new one.

    The temporary file does not end in ``.prom``, so node_exporter never reads it, and it
    is made world-readable (``NamedTemporaryFile`` creates 0600) because node_exporter
    usually runs as another user.
    """
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as tmp:
        temporary = Path(tmp.name)
        try:
            tmp.write(content)
            tmp.flush()
            os.fsync(tmp.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    try:
        temporary.chmod(0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _read_totals(path: Path) -> MetricsSnapshot:
    if not path.exists():
        return MetricsSnapshot()
    try:
        return MetricsSnapshot.parse(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        # Unreadable (edited by hand?): start over. Prometheus takes it as a counter reset.
        log.warning("metrics file %s is not valid exposition text, restarting it: %s", path, exc)
        return MetricsSnapshot()


def accumulate_textfile(directory: Path, entity: str, batch: MetricsSnapshot) -> MetricsSnapshot:
    """Add ``batch``'s series of ``entity`` to its file; return the new totals."""
    path = textfile_path(directory, entity)
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(directory / f".syncflow_{entity}.lock"):
        totals = _read_totals(path).merge(batch.for_entity(entity))
        write_atomically(path, totals.render())
    return totals
