"""A plain, mergeable copy of metric families: how one batch is added to the running totals.

A short-lived process cannot keep a counter in memory between batches, so the running
total lives in the exposition text itself (the textfile): each batch parses the previous
text, adds its own registry and writes the sum. Counters and histogram buckets add up;
gauges are replaced by the newer value, series by series.

>>> from prometheus_client import CollectorRegistry, Counter
>>> registry = CollectorRegistry()
>>> Counter("jobs", "Jobs run.", ["entity"], registry=registry).labels("items").inc(2)
>>> before = MetricsSnapshot.parse('# TYPE jobs_total counter\\njobs_total{entity="items"} 3\\n')
>>> before.merge(MetricsSnapshot.from_registry(registry)).value("jobs_total", entity="items")
5.0
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

Labels = tuple[tuple[str, str], ...]
SampleKey = tuple[str, Labels]

#: Families whose samples are running totals: a new batch adds to them.
ADDITIVE_TYPES = frozenset({"counter", "histogram", "summary"})

_SUFFIX_ORDER = {"_bucket": 0, "_count": 1, "_sum": 2}


@dataclass
class Family:
    """One metric family: its type, help text and samples keyed by (sample name, labels)."""

    name: str
    type: str
    documentation: str
    samples: dict[SampleKey, float] = field(default_factory=dict)


def _labels(mapping: dict[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


def _from_metrics(metrics: Iterable[Metric]) -> dict[str, Family]:
    families: dict[str, Family] = {}
    for metric in metrics:
        # Creation times are per process: as running totals they would only mislead.
        if metric.name.endswith("_created"):
            continue
        family = families.setdefault(
            metric.name, Family(metric.name, metric.type, metric.documentation)
        )
        for sample in metric.samples:
            if not sample.name.endswith("_created"):
                key = (sample.name, _labels(sample.labels))
                family.samples[key] = family.samples.get(key, 0.0) + sample.value
    return {name: family for name, family in families.items() if family.samples}


def _sample_order(key: SampleKey) -> tuple[Labels, int, float, str]:
    """Series together, buckets in ascending ``le``, then ``_count`` and ``_sum``."""
    name, labels = key
    le = dict(labels).get("le")
    series = tuple(item for item in labels if item[0] != "le")
    rank = next((r for suffix, r in _SUFFIX_ORDER.items() if name.endswith(suffix)), 0)
    bound = float(le) if le is not None else -math.inf
    return series, rank, bound, name


class MetricsSnapshot(Collector):
    """Metric families as data; a ``Collector``, so it renders and pushes like a registry."""

    def __init__(self, families: dict[str, Family] | None = None) -> None:
        self.families: dict[str, Family] = families or {}

    @classmethod
    def from_registry(cls, registry: Collector) -> MetricsSnapshot:
        """What ``registry`` holds now."""
        return cls(_from_metrics(registry.collect()))

    @classmethod
    def parse(cls, text: str) -> MetricsSnapshot:
        """Read Prometheus text exposition (e.g. a previous textfile)."""
        return cls(_from_metrics(text_string_to_metric_families(text)))

    def merge(self, newer: MetricsSnapshot) -> MetricsSnapshot:
        """These totals plus ``newer``: counters and histograms add, gauges take the newer value.

        A family whose type changed (a new SyncFlow version) restarts from ``newer``.
        """
        merged = copy.deepcopy(self.families)
        for name, family in newer.families.items():
            old = merged.get(name)
            if old is None or old.type != family.type:
                merged[name] = copy.deepcopy(family)
                continue
            old.documentation = family.documentation
            for key, value in family.samples.items():
                if family.type in ADDITIVE_TYPES:
                    old.samples[key] = old.samples.get(key, 0.0) + value
                else:
                    old.samples[key] = value
        return MetricsSnapshot(merged)

    def entities(self) -> set[str]:
        """The values of the ``entity`` label found in any sample."""
        return {
            value
            for family in self.families.values()
            for _, labels in family.samples
            for label, value in labels
            if label == "entity"
        }

    def for_entity(self, entity: str) -> MetricsSnapshot:
        """Only the samples labelled ``entity=<entity>``."""
        families = {}
        for name, family in self.families.items():
            samples = {k: v for k, v in family.samples.items() if ("entity", entity) in k[1]}
            if samples:
                families[name] = Family(name, family.type, family.documentation, samples)
        return MetricsSnapshot(families)

    def value(self, sample_name: str, **labels: str) -> float | None:
        """One sample's value, or None when that series is absent."""
        for family in self.families.values():
            found = family.samples.get((sample_name, _labels(labels)))
            if found is not None:
                return found
        return None

    def collect(self) -> Iterator[Metric]:
        """The families as ``prometheus_client`` metrics, in a stable order."""
        for name in sorted(self.families):
            family = self.families[name]
            metric = Metric(name, family.documentation, family.type)
            for key in sorted(family.samples, key=_sample_order):
                metric.add_sample(key[0], dict(key[1]), family.samples[key])
            yield metric

    def render(self) -> bytes:
        """Prometheus text exposition format 0.0.4, as node_exporter and Pushgateway read it."""
        return generate_latest(self)
