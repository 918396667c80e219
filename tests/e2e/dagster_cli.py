"""``dagster job execute`` of the real definitions against both emulators, then a check
that ScheduleHub equals the source. CI runs it as a script::

    uv run python -m tests.e2e.dagster_cli            # sync_all, in-process executor
    uv run python -m tests.e2e.dagster_cli --executor multiprocess

The emulators run in processes of their own on free ports; the ERP's rows all lie in one
day, so that one partition is the whole source.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.e2e.harness import DAY, CliWorld, cli_world, partition_tags

__all__ = ["DAY", "CliWorld", "cli_world", "main", "partition_tags"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executor", default="in_process", choices=["in_process", "multiprocess"])
    parser.add_argument("--items", type=int, default=3000)
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="syncflow-e2e-"))
    try:
        with cli_world(workdir, items=options.items, executor=options.executor) as world:
            started = time.perf_counter()
            args = ["job", "execute", "-m", "syncflow_dagster", "-j", "sync_all"]
            print("$ dagster", *args, "--tags", partition_tags(DAY), flush=True)
            world.dagster(*args, "--tags", partition_tags(DAY))
            print(f"sync_all took {time.perf_counter() - started:.1f} s ({options.executor})")
            counts: dict[str, Any] = world.assert_schedulehub_equals_source()
            print("ScheduleHub equals the source:", counts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
