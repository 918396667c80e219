"""The one fault model of both emulators: settings from the environment, the dice."""

from __future__ import annotations

import pydantic
import pytest

from syncflow_core.emulators.apismith_config import ApiSmithConfig, ApiSmithFaults
from syncflow_core.emulators.faults import FaultInjector, FaultSettings
from syncflow_core.emulators.schedulehub_service import ScheduleHubConfig, ScheduleHubFaults


def test_each_system_reads_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFLOW_APISMITH_FAULT_ERROR_RATE", "0.25")
    monkeypatch.setenv("SYNCFLOW_APISMITH_FAULT_SCAN_UPDATE_SHARE", "0.5")
    monkeypatch.setenv("SYNCFLOW_SCHEDULEHUB_FAULT_LOST_ANSWER_RATE", "0.125")
    monkeypatch.setenv("SYNCFLOW_SCHEDULEHUB_FAULT_ERROR_STATUSES", "[502]")
    monkeypatch.setenv("ERROR_RATE", "0.9")  # a bare name is nobody's setting
    erp, hub = ApiSmithConfig().faults, ScheduleHubConfig().faults
    assert (erp.error_rate, erp.scan_update_share) == (0.25, 0.5)
    assert (hub.error_rate, hub.lost_answer_rate, hub.error_statuses) == (0.0, 0.125, (502,))
    assert FaultSettings().error_rate == 0.0
    assert ScheduleHubFaults(error_rate=0.5).lost_answer_rate == 0.125  # arguments win


def test_knobs_belong_to_their_system() -> None:
    with pytest.raises(pydantic.ValidationError):
        ApiSmithFaults(lost_answer_rate=0.1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        ScheduleHubFaults(scan_update_share=0.1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        FaultInjector(ScheduleHubFaults()).update(error_rate=1.5)


def test_the_dice_follow_the_rates() -> None:
    faults = FaultInjector(ScheduleHubFaults(error_rate=0.3, rate_limit_rate=0.2, seed=9))
    drawn = [faults.draw() for _ in range(4000)]
    statuses = [d.status for d in drawn if d is not None]
    assert 700 < statuses.count(429) < 900
    assert 1050 < len(statuses) - statuses.count(429) < 1350
    assert set(statuses) <= {429, 500, 502, 503, 504}
    assert faults.injected["rate_limited"] == statuses.count(429)
    lost = sum(faults.chance(0.1, "lost_answers") for _ in range(4000))
    assert 300 < lost < 500
    assert faults.injected["lost_answers"] == lost
    again = FaultInjector(ScheduleHubFaults(error_rate=0.3, rate_limit_rate=0.2, seed=9))
    assert [again.draw() for _ in range(4000)] == drawn  # a seed repeats the sequence
