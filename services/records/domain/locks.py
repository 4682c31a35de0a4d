"""Guarded fields: while an approval is pending in workflows, a write to the fields it guards
answers 409 naming the approval (``approval-pending``). Workflows locks and unlocks over the command
RPC (ops ``lock`` / ``unlock``); every entity's one update path calls ``check`` after loading the
record, so the HTTP API and workflow commands are refused alike. A guarded custom field
(``custom_fields.<key>``) is refused whenever ``custom_fields`` is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from services.records.db import locks as store
from shared.db import Unit
from shared.errors import Conflict, FieldError


def _guarded(field: str, sent: set[str]) -> bool:
    return field in sent or (field.startswith("custom_fields.") and ("custom_fields" in sent or field in sent))


async def check(unit: Unit, entity: str, record_id: uuid.UUID, sent: Iterable[str]) -> None:
    """409 when ``sent`` names a field a pending approval guards on this record."""
    names = set(sent)
    if not names:
        return
    for lock in await store.of_record(unit, entity, record_id):
        hit = sorted(f for f in lock["fields"] if _guarded(f, names))
        if hit:
            raise Conflict(
                f"{', '.join(hit)} cannot change while approval {lock['approval_id']} is pending; "
                "wait for its decision or recall it", kind="approval-pending",
                errors=[FieldError(f, f"is guarded by pending approval {lock['approval_id']}", "locked") for f in hit],
                extra={"approval_id": str(lock["approval_id"])},
            )
