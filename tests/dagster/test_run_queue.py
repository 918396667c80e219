"""``dagster dev`` with the project's ``dagster.yaml``: runs launched through the queue
(as the UI, schedules and sensor launch them) of the same entity and partition run one at
a time; both succeed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.dagster.conftest import DagsterWorld
from tests.dagster.webdriver import free_port, process, wait_for

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = """
mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""
RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }"
LOCATION = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"


def graphql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(url + "/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    data: dict[str, Any] = response.json()["data"]
    return data


def test_runs_of_one_entity_and_partition_queue_one_at_a_time(
    dworld: DagsterWorld, tmp_path: Path
) -> None:
    port = free_port()
    command = [str(Path(sys.executable).with_name("dagster")), "dev", "-m", "syncflow_dagster"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    (dworld.home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    url = f"http://127.0.0.1:{port}"
    with process(command, dict(os.environ), tmp_path / "dev.log") as dev:
        wait_for(
            lambda: dev.poll() is None and httpx.get(url + "/server_info").status_code == 200,
            "dagster dev answers",
            seconds=120,
        )
        wait_for(lambda: bool(graphql(url, LOCATION)["workspaceOrError"]), "code location")
        location = graphql(url, LOCATION)["workspaceOrError"]["locationEntries"][0]["name"]
        tags = [
            {"key": "dagster/partition", "value": "2025-01-02"},
            {"key": "syncflow-entity/items", "value": "2025-01-02"},
        ]
        params = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": "__repository__",
                "jobName": "sync_items",
            },
            "executionMetadata": {"tags": tags},
        }
        ids = []
        for _ in range(2):
            launched = graphql(url, LAUNCH, p=params)["launchPipelineExecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            ids.append(launched["run"]["runId"])
        deadline, both_running = time.monotonic() + 240, False
        while time.monotonic() < deadline:
            runs = [graphql(url, RUN, id=run_id)["runOrError"] for run_id in ids]
            both_running |= all(r["status"] == "STARTED" for r in runs)
            if all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
                break
            time.sleep(0.5)
    assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"]
    assert not both_running
    first, second = sorted(runs, key=lambda r: r["startTime"])
    assert second["startTime"] >= first["endTime"]  # the second waited in the queue
