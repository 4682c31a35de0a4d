"""Bulk actions on a selection of customers (issue 16): tag and return to the public pool.

One request changes every customer it may and answers, per customer, what it left alone and why
(``BulkResult``): not found (missing, deleted, another tenant's or outside the caller's scope: one
answer for all, as for a single request), a pending approval guarding the field, no right, already
in the pool. The change is set-based (one UPDATE), writes field history and one ``customer.updated``
(or ``customer.returned_to_pool``) event per changed customer, and one audit row for the action.
Transfer has its own bulk request (``POST /customers/transfer``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from services.records.db import bulk_actions as store
from services.records.domain import customers, history, locks, normalise, ownership, public_pool
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from shared import i18n
from shared.errors import PROBLEM_BASE, FieldError, Problem, ValidationProblem

MAX_IDS = 500
CustomerIds = Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=MAX_IDS)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=customers.MAX_TAGS)]


class BulkTagsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Add ``add`` and take away ``remove`` on each of ``customer_ids`` (at most 500)."""

    customer_ids: CustomerIds
    add: Tags = msgspec.field(default_factory=list)
    remove: Tags = msgspec.field(default_factory=list)


class BulkIdsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_ids: CustomerIds


class Outcome:
    """What happened to each selected customer, in the order asked."""

    def __init__(self, ids: list[uuid.UUID]) -> None:
        self.ids = list(dict.fromkeys(ids))
        self.failed: dict[uuid.UUID, Problem] = {}

    def fail(self, record_id: uuid.UUID, problem: Problem) -> None:
        self.failed.setdefault(record_id, problem)

    def answer(self, language: str) -> dict[str, Any]:
        """``done`` and ``failed`` (each with its problem type, title in ``language`` and detail)."""
        return {"done": [str(i) for i in self.ids if i not in self.failed],
                "failed": [{"id": str(i), "status": p.status_code, "type": PROBLEM_BASE + p.kind,
                            "title": i18n.title(p.kind, p.title, p.status_code, language), "message": str(p.detail)}
                           for i, p in ((i, self.failed[i]) for i in self.ids if i in self.failed)]}


async def _visible(unit: Any, access: RecordAccess, outcome: Outcome, fields: list[str]) -> list[Any]:
    """The selected customers the caller sees and no pending approval guards ``fields`` on; the
    others failed with the answer a single request would have given."""
    rows = [r for r in await store.live_customers(unit, outcome.ids) if access.visible(customers.ENTITY, r)]
    seen = {r["id"] for r in rows}
    for record_id in outcome.ids:
        if record_id not in seen:
            outcome.fail(record_id, customers._not_found(record_id))  # noqa: SLF001 - the same 404
    guarded = await locks.conflicts(unit, customers.ENTITY, list(seen), fields)
    for record_id, conflict in guarded.items():
        outcome.fail(record_id, conflict)
    return [r for r in rows if r["id"] not in guarded]


def _clean_tags(tags: list[str], field: str, errors: normalise.Errors) -> list[str]:
    clean = [errors.check(f"{field}[{i}]", normalise.text, tag, 50) for i, tag in enumerate(tags)]
    return list(dict.fromkeys(t for t in clean if t))


async def tag(unit: Any, access: RecordAccess, body: BulkTagsBody, language: str) -> dict[str, Any]:
    access.require(customers.ENTITY, "update")
    access.check_writable(customers.ENTITY, ["tags"])
    errors = normalise.Errors()
    add, remove = _clean_tags(body.add, "add", errors), _clean_tags(body.remove, "remove", errors)
    if not add and not remove and not errors:
        errors.items.append(FieldError("add", "name at least one tag to add or remove", "empty"))
    errors.raise_if_any()
    outcome = Outcome(body.customer_ids)
    rows = await _visible(unit, access, outcome, ["tags"])
    wanted: dict[uuid.UUID, list[str]] = {}
    before: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        current = list(row["tags"])
        new = [t for t in current if t not in remove] + [t for t in add if t not in current and t not in remove]
        if len(new) > customers.MAX_TAGS:
            outcome.fail(row["id"], ValidationProblem(
                [FieldError("tags", f"may hold at most {customers.MAX_TAGS} tags", "too_many")]))
        elif new != current:  # already as asked: done, nothing written
            wanted[row["id"]], before[row["id"]] = new, current
    changed = await store.set_tags(unit, wanted, access.user_id) if wanted else []
    cfg = await settings_domain.get(unit)
    await history.publish_many(unit, customers.ENTITY, "updated", [
        history.Published(customers.record_of(row), {"tags": {"old": before[row["id"]], "new": list(row["tags"])}},
                          customer_id=row["id"])
        for row in changed], actor=access.actor, settings=cfg, extra={"bulk": True})
    answer = outcome.answer(language)
    await history.audit(unit, "customer.bulk_tags", customers.ENTITY, None, actor=access.actor, details={
        "add": add, "remove": remove, "customer_ids": [str(r["id"]) for r in changed],
        "failed": len(answer["failed"])})
    return answer


async def release(unit: Any, access: RecordAccess, body: BulkIdsBody, language: str) -> dict[str, Any]:
    """Return the selected customers to the public pool: each needs its owner's ``customer:update``
    or, for someone else's, ``customer:transfer`` (as ``POST /customers/{id}/release``)."""
    outcome = Outcome(body.customer_ids)
    rows = await _visible(unit, access, outcome, list(ownership.OWNER_FIELDS))
    allowed = []
    for row in rows:
        try:
            if row["owner_id"] is None:
                raise public_pool.already_in_pool()
            access.require(customers.ENTITY, "update" if row["owner_id"] == access.user_id else "transfer")
        except Problem as problem:
            outcome.fail(row["id"], problem)
        else:
            allowed.append(row)
    if allowed:
        await public_pool.release_rows(unit, access, allowed)
    answer = outcome.answer(language)
    await history.audit(unit, "customer.bulk_release", customers.ENTITY, None, actor=access.actor, details={
        "customer_ids": [str(r["id"]) for r in allowed], "failed": len(answer["failed"])})
    return answer
