"""What the definitions contain, without running anything: assets per catalog entity, the
op names of their graphs, lineage, partitions, jobs, executors, and the instance config."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import dagster as dg
import pytest
import yaml

from syncflow_core.catalog import load_catalog
from syncflow_core.settings import Settings
from syncflow_dagster.definitions import build_definitions
from syncflow_dagster.io_managers import HandoffMemoryIOManager, HandoffParquetIOManager
from syncflow_dagster.settings import DagsterSettings
from syncflow_dagster.tags import entity_tag

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["fetch", "normalize", "validate", "map", "identity", "delta", "resolve", "ingest"]


def upstream_of(graph: dg.GraphDefinition, node: str) -> list[str]:
    """The nodes whose outputs ``node`` takes."""
    inputs = graph.dependency_structure.input_to_upstream_outputs_for_node(node)
    return [output.node_name for outputs in inputs.values() for output in outputs]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions(Settings(partitions_start=dt.date(2025, 1, 1)), DagsterSettings())


def test_one_asset_per_catalog_entity_named_after_it(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(load_catalog()) | {"items_background"}  # + the large entity's


def test_each_asset_is_the_nine_stages_and_its_checks(defs: dg.Definitions) -> None:
    for entity in load_catalog():
        asset = defs.resolve_assets_def(entity)
        graph = asset.node_def
        assert isinstance(graph, dg.GraphDefinition)
        chain = [*(f"{entity}_{s}" for s in STAGES), f"{entity}_track", f"{entity}_checks"]
        assert {node.name for node in graph.nodes} == set(chain)
        assert upstream_of(graph, chain[0]) == []
        for before, after in itertools.pairwise(chain):  # each feeds the next
            assert upstream_of(graph, after) == [before]
        checks = {key.name for key in asset.check_keys}
        assert checks == {"success_rate", "dead_letters", "pending_age"}
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()


def test_lineage_children_depend_on_their_parents(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "items": set(),
        "work_centers": set(),
        "orders": set(),
        "order_lines": {"orders", "items"},
        "items_background": set(),  # no lineage: a full load of items beside the syncs
    }


def test_the_large_entities_get_a_background_asset_job_and_schedule() -> None:
    settings = Settings(background_entities=("items", "orders"))
    defs = build_definitions(settings, DagsterSettings())
    for entity in ("items", "orders"):
        asset = defs.resolve_assets_def(f"{entity}_background")
        assert isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition)
        assert asset.partitions_def.name == f"{entity}_background_days"
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()
        job = defs.resolve_job_def(f"{entity}_background_job")
        assert job.tags[entity_tag(entity)] == "background"
        schedule = defs.resolve_schedule_def(f"{entity}_background_daily")
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    plan = defs.resolve_job_def("background_sync_schedule")
    assert {n.name for n in plan.nodes} == {"plan_items_background", "plan_orders_background"}
    sync_all = defs.resolve_job_def("sync_all")
    assert "items_background" not in {
        k.to_user_string() for k in sync_all.asset_layer.selected_asset_keys
    }
    with pytest.raises(ValueError, match="not in the catalog"):
        build_definitions(Settings(background_entities=("nope",)), DagsterSettings())


def test_daily_partitions_from_the_setting_up_to_today() -> None:
    defs = build_definitions(Settings(partitions_start=dt.date(2025, 3, 1)), DagsterSettings())
    partitions = defs.resolve_assets_def("items").partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    keys = partitions.get_partition_keys()
    assert keys[0] == "2025-03-01"
    assert keys[-1] == dt.datetime.now(dt.UTC).date().isoformat()


def test_jobs(defs: dg.Definitions) -> None:
    names = {job.name for job in defs.resolve_all_job_defs()}
    expected = {"sync_all", "reconcile", "redrive", *(f"sync_{e}" for e in load_catalog())}
    assert expected <= names
    sync_all = defs.resolve_job_def("sync_all")
    selected = {k.to_user_string() for k in sync_all.asset_layer.executable_asset_keys}
    assert selected == set(load_catalog())
    items = defs.resolve_job_def("sync_items")
    assert {k.to_user_string() for k in items.asset_layer.executable_asset_keys} == {"items"}


def test_reconcile_runs_children_first_and_redrive_parents_first(defs: dg.Definitions) -> None:
    def order(job_name: str) -> list[str]:
        graph = defs.resolve_job_def(job_name).graph
        names = [node.name for node in graph.nodes]
        chain = [n for n in names if not upstream_of(graph, n)]
        assert len(chain) == 1
        while len(chain) < len(names):
            chain.append(next(n for n in names if upstream_of(graph, n) == [chain[-1]]))
        return [n.split("_", 1)[1] for n in chain]

    reconcile = order("reconcile")
    assert reconcile.index("order_lines") < reconcile.index("orders")
    assert reconcile.index("order_lines") < reconcile.index("items")
    redrive = order("redrive")
    assert redrive.index("order_lines") > redrive.index("orders")
    assert redrive.index("order_lines") > redrive.index("items")
    assert defs.resolve_job_def("reconcile").tags[entity_tag("items")] == "reconcile"


def test_the_executor_and_handoffs_follow_the_setting() -> None:
    settings = Settings()
    inproc = build_definitions(settings, DagsterSettings(executor="in_process"))
    multi = build_definitions(settings, DagsterSettings(executor="multiprocess"))
    assert inproc.executor == dg.in_process_executor
    assert multi.executor == dg.multiprocess_executor
    assert isinstance((inproc.resources or {})["syncflow_handoff"], HandoffMemoryIOManager)
    assert isinstance((multi.resources or {})["syncflow_handoff"], HandoffParquetIOManager)


def test_no_secret_in_resource_config(defs: dg.Definitions) -> None:
    config = repr((defs.resources or {})["syncflow"])
    assert "secret" not in config.lower()
    assert "database_url" not in config
    assert "dev-only" not in config


DEPLOY = ["deploy/dagster-postgres.yaml", "deploy/dagster-docker.yaml", "deploy/dagster-k8s.yaml"]


@pytest.mark.parametrize("path", ["dagster.yaml", *DEPLOY])
def test_dagster_yaml_limits_every_entity_to_one_run_per_partition(path: str) -> None:
    config = yaml.safe_load((ROOT / path).read_text())
    assert config["telemetry"] == {"enabled": False}
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = {limit["key"]: limit for limit in coordinator["config"]["tag_concurrency_limits"]}
    for entity in load_catalog():
        limit = limits[entity_tag(entity)]
        assert limit["limit"] == 1
        assert limit["value"] == {"applyLimitPerUniqueValue": True}


def test_the_instance_config_loads(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert type(coordinator).__name__ == "QueuedRunCoordinator"
        limits = coordinator.get_run_queue_config().tag_concurrency_limits  # type: ignore[attr-defined]
        assert {limit["key"] for limit in limits} == {entity_tag(e) for e in load_catalog()}


def test_workspace_yaml_loads_the_package() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == "syncflow_dagster"


def test_the_module_exposes_definitions() -> None:
    import syncflow_dagster

    assert isinstance(syncflow_dagster.defs, dg.Definitions)


@pytest.mark.parametrize("path", DEPLOY[1:])
def test_the_multi_node_instances_differ_only_by_their_launcher(path: str) -> None:
    postgres = yaml.safe_load((ROOT / DEPLOY[0]).read_text())
    config = yaml.safe_load((ROOT / path).read_text())
    launcher = config.pop("run_launcher")
    assert config == postgres  # storage (postgres_url from the environment) and the queue
    assert launcher["module"] in ("dagster_docker", "dagster_k8s")
    names = launcher["config"].get("env_vars", [])
    assert all("=" not in name for name in names)  # names only: values never in the file
