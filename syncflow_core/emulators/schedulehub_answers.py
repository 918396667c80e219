"""What ScheduleHub answers for one operation (``results[i]`` of the batch endpoint).

>>> error(404, "parent_not_found", field="order_uid")
{'status': 404, 'error': 'parent_not_found', 'field': 'order_uid'}
"""

from __future__ import annotations

from typing import Any

from syncflow_core.emulators.schedulehub_schema import Refused

Result = dict[str, Any]  # results[i] of the batch endpoint: {"status": 201, "uid": ...}


def error(
    status: int,
    kind: str,
    *,
    uid: str | None = None,
    detail: str | None = None,
    field: str | None = None,
) -> Result:
    """A refusal: status, the contract's ``error``, and what else the contract shows."""
    result: Result = {"status": status, "error": kind}
    if uid is not None:
        result["uid"] = uid
    if field is not None:
        result["field"] = field
    if detail is not None:
        result["detail"] = detail
    return result


def refused(check: Refused) -> Result:
    return error(422, "validation", detail=check.problem, field=check.field)
