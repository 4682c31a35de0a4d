"""Guarded fields: while an approval is pending in workflows, a write to the fields it guards
answers 409 naming the approval (``approval-pending``). Workflows locks and unlocks over the command
RPC (ops ``lock`` / ``unlock``). Every path that changes a record's fields goes through ``check``
(or ``conflicts`` for many records) after loading the record, so the HTTP API, workflow commands,
transfer, claim, release, merge, handover and the pool's run are refused alike: each entity's
update path, ``ownership.transfer`` and ``handover`` (a locked customer is skipped and reported),
``public_pool.claim`` / ``release`` / ``run_tenant`` (skipped) and ``merge`` (the survivor's
changed fields; a merged customer changes whole, so any lock on it refuses the merge). A guarded
custom field (``custom_fields.<key>``) is refused whenever ``custom_fields`` is sent. A guard names
API fields, a path may name columns: ``phone``, ``phones`` and the column ``primary_phone`` are one
field (so are the e-mail ones), whichever is guarded and whichever is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from services.records.db import locks as store
from shared.db import Unit
from shared.errors import Conflict, FieldError

# ``sent`` for a change of the whole record (a customer merged into another): any lock refuses it.
EVERY_FIELD = frozenset({"*"})


# API names and columns that write the same thing: a guard on any of them sees a write to any.
SAME_FIELD = (frozenset({"phone", "phones", "primary_phone"}), frozenset({"email", "emails", "primary_email"}))


def _widened(sent: Iterable[str]) -> set[str]:
    names = set(sent)
    for group in SAME_FIELD:
        if names & group:
            names |= group
    return names


def _guarded(field: str, sent: set[str]) -> bool:
    return ("*" in sent or field in sent
            or (field.startswith("custom_fields.") and "custom_fields" in sent))


def _conflict(approval_id: uuid.UUID, hit: list[str]) -> Conflict:
    return Conflict(
        f"{', '.join(hit)} cannot change while approval {approval_id} is pending; "
        "wait for its decision or recall it", kind="approval-pending",
        errors=[FieldError(f, f"is guarded by pending approval {approval_id}", "locked") for f in hit],
        extra={"approval_id": str(approval_id)},
    )


async def conflicts(unit: Unit, entity: str, record_ids: Sequence[uuid.UUID],
                    sent: Iterable[str]) -> dict[uuid.UUID, Conflict]:
    """The records among ``record_ids`` on which ``sent`` names a guarded field, each with its 409
    (the oldest pending approval that guards one); one query for all."""
    names = _widened(sent)
    found: dict[uuid.UUID, Conflict] = {}
    if not names or not record_ids:
        return found
    for lock in await store.of_records(unit, entity, list(record_ids)):
        hit = sorted(f for f in lock["fields"] if _guarded(f, names))
        if hit and lock["record_id"] not in found:
            found[lock["record_id"]] = _conflict(lock["approval_id"], hit)
    return found


async def check(unit: Unit, entity: str, record_id: uuid.UUID, sent: Iterable[str]) -> None:
    """409 when ``sent`` names a field a pending approval guards on this record."""
    found = await conflicts(unit, entity, [record_id], sent)
    if found:
        raise found[record_id]


async def check_all(unit: Unit, entity: str, record_ids: Sequence[uuid.UUID], sent: Iterable[str]) -> None:
    """409 naming the first (in ``record_ids`` order) record with a guarded field in ``sent``."""
    found = await conflicts(unit, entity, record_ids, sent)
    for record_id in record_ids:
        if record_id in found:
            raise found[record_id]
