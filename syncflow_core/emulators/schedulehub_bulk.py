"""Column-wise paths for the batches a sync sends: all new inserts, all full-record updates
of existing records, all deletes of childless records.

In such a batch no operation can affect another, so the in-order answer of each is known
up front and the batch is written with lists and ``zip`` instead of per-operation
objects. Anything else (a duplicate key, a missing parent or target, a partial patch,
mixed kinds) returns ``None`` and the batch takes the in-order path of
``schedulehub_ops``, which gives the same answers, one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import partial
from itertools import repeat
from operator import attrgetter, contains, is_not, itemgetter, ne
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection

from syncflow_core.emulators.schedulehub_answers import Result, refused
from syncflow_core.emulators.schedulehub_schema import Refused, bad_uids
from syncflow_core.emulators.schedulehub_uid import id_of_checked, split_uids

if TYPE_CHECKING:
    from syncflow_core.emulators.schedulehub_ops import BatchRun

_UNSET = msgspec.UNSET
Column = list[Any]
_KIND, _DATA = attrgetter("op"), attrgetter("data")
_KEY_HASH = attrgetter("erp_key_hash")
_NOT_NONE = partial(is_not, None)


def bulk(run: BatchRun, conn: Connection) -> list[Result] | None:
    """The answers of a batch written column-wise, or ``None``: use the in-order path."""
    kinds = {op.op for op in run.ops} if len(run.ops) < 2 else set(map(_KIND, run.ops))
    if not kinds:
        return []
    if kinds == {"insert"}:
        return _new_inserts(run, conn)
    if kinds == {"update"}:
        return _full_updates(run, conn)
    if kinds == {"delete"}:
        return _childless_deletes(run, conn)
    return None


def _new_inserts(run: BatchRun, conn: Connection) -> list[Result] | None:
    checks = run.checks
    refused_any = any(map(isinstance, checks, repeat(Refused)))
    valid = [i for i, c in enumerate(checks) if c.__class__ is not Refused] if refused_any else []
    good = [checks[i] for i in valid] if refused_any else checks
    keys = list(map(_KEY_HASH, good))
    if len(set(keys)) != len(keys) or not run.known.keys().isdisjoint(keys):
        return None  # a duplicate: 409 in place
    parents = [list(map(attrgetter(f), good)) for f, _ in run.parent_refs]
    found = _all_parents(run, conn, parents)
    if found is None:
        return None
    ids, uids = run.fresh.ids, run.fresh.uids
    ops = [run.ops[i] for i in valid] if refused_any else run.ops
    count = len(good)
    columns = [
        ids,
        run.fresh.lows,
        repeat(run.now, count),
        repeat(run.now, count),
        list(map(_DATA, ops)),  # the record's JSON as received, bound as is
        *parents,
    ]
    if count:
        run.store.insert_columns(conn, run.entity, columns, count)
    for (_, parent), column, by_uid in zip(run.parent_refs, parents, found, strict=True):
        named = map(by_uid.__getitem__, filter(_NOT_NONE, column))
        run.children_added.setdefault(parent, []).extend(named)
    run.new_rows = (keys, ids, run.fresh.lows)
    created = [{"status": 201, "uid": uid} for uid in uids]
    if not refused_any:
        return created
    results = [refused(c) if c.__class__ is Refused else {} for c in checks]
    for position, result in zip(valid, created, strict=True):
        results[position] = result
    return results


def _full_updates(run: BatchRun, conn: Connection) -> list[Result] | None:
    """Updates whose body has every field (what a sync sends): the new data is the body."""
    checks, ops = run.checks, run.ops
    if any(map(isinstance, checks, repeat(Refused))):
        return None  # 422 in place
    if any(map(contains, map(msgspec.structs.astuple, checks), repeat(_UNSET))):
        return None  # a partial patch: merged into the stored record, in order
    heads = _targets(run, conn, [op.uid or "" for op in ops], with_key=False)
    # The key map is the truth about which record a key names: the body's key must name
    # the target itself (else a key change, 422, answered in place).
    named = map(run.known.get, map(_KEY_HASH, checks))
    if heads is None or any(map(ne, named, map(itemgetter(-1), heads))):
        return None  # not_found, or a key change (422), in place
    parents = [[getattr(c, f) for c in checks] for f, _ in run.parent_refs]
    found = _all_parents(run, conn, parents)
    if found is None:
        return None
    rows = zip(
        repeat(run.now),
        map(_DATA, ops),
        *parents,
        [h[-1] for h in heads],
        strict=False,
    )
    run.store.update_values(conn, run.entity, list(rows))
    _count_children(run, parents, +1, found)
    _count_children(run, _old_parents(run, heads), -1)
    return [{"status": 200, "uid": h[0]} for h in heads]


def _childless_deletes(run: BatchRun, conn: Connection) -> list[Result] | None:
    heads = _targets(run, conn, [op.uid or "" for op in run.ops])
    children = run.store.children[run.entity]
    if heads is None or any(children[h[-1]] > 0 for h in heads):
        return None  # not_found or has_children, in place
    run.store.delete_ids(conn, run.entity, [h[-1] for h in heads])
    run.deleted.update(h[-1] for h in heads)  # for the in-memory maps, once committed
    _count_children(run, _old_parents(run, heads), -1)
    run.keys.update((h[1], None) for h in heads)
    return [{"status": 204, "uid": h[0]} for h in heads]


# --- helpers ------------------------------------------------------------------------------


def _targets(
    run: BatchRun, conn: Connection, uids: list[str], *, with_key: bool = True
) -> list[Any] | None:
    """(uid, erp_key_hash, *parent uids, id) of distinct existing targets, in operation
    order; ``None`` when one is missing or named twice. Without ``with_key`` the key is
    None, and for an entity without parents nothing is read from the store."""
    if bad_uids(uids):  # e.g. upper case, or not a uid: answered in place
        return None
    ids, lows = split_uids(uids)
    if len(set(ids)) != len(ids):
        return None
    if not with_key and not run.parent_refs:
        if not run.store.live[run.entity].has(ids, lows):
            return None
        return [(u, None, i) for u, i in zip(uids, ids, strict=True)]
    heads = run.store.heads(conn, run.entity, ids, with_key=with_key)
    ordered = [(*heads[i], i) if i in heads else None for i in ids]
    if any(h is None or h[0] != u for h, u in zip(ordered, uids, strict=True)):
        return None  # absent, or another uid with the same upper half: answered in place
    return ordered


def _all_parents(
    run: BatchRun, conn: Connection, columns: Sequence[Column]
) -> list[dict[str, int]] | None:
    """Per parent reference, ``uid -> id`` of the parents named; ``None`` if one is missing."""
    found_all = []
    for (_, parent), uids in zip(run.parent_refs, columns, strict=True):
        wanted = list(set(uids) - {None})
        ids, lows = split_uids(wanted)  # the schema checked their form
        if not run.store.live[parent].has(ids, lows):
            return None  # parent_not_found (absent, or another uid's upper half), in place
        found_all.append(dict(zip(wanted, ids, strict=True)))
    return found_all


def _old_parents(run: BatchRun, heads: list[Any]) -> list[Column]:
    return [[h[2 + k] for h in heads] for k in range(len(run.parent_refs))]


def _count_children(
    run: BatchRun,
    columns: Sequence[Column],
    step: int,
    found: list[dict[str, int]] | None = None,
) -> None:
    """Children per parent id move by ``step`` for every non-null parent uid."""
    for k, ((_, parent), uids) in enumerate(zip(run.parent_refs, columns, strict=True)):
        by_uid = found[k] if found is not None else None
        present = [u for u in uids if u is not None]
        ids = (
            map(by_uid.__getitem__, present) if by_uid is not None else map(id_of_checked, present)
        )
        delta = Counter(ids)
        counts = run.child_delta.get(parent)
        if counts is None and step > 0:
            run.child_delta[parent] = delta  # the common case: nothing to add it to
        elif counts is None:
            run.child_delta[parent] = Counter({i: -n for i, n in delta.items()})
        elif step > 0:
            counts.update(delta)
        else:
            counts.subtract(delta)
