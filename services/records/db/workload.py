"""How much open work each user holds, for workflows' least-loaded assignment (workload.py)."""

from __future__ import annotations

import uuid

from shared.db import Unit

# What counts as a user's open work when a record of this entity is to be assigned.
_OPEN_WORK = {
    "customer": "SELECT owner_id AS who, count(*) AS n FROM records.customers "
                "WHERE tenant_id = $1 AND owner_id = ANY($2::uuid[]) AND deleted_at IS NULL "
                "AND lifecycle_stage <> 'churned' GROUP BY owner_id",
    "task": "SELECT assignee_id AS who, count(*) AS n FROM records.tasks "
            "WHERE tenant_id = $1 AND assignee_id = ANY($2::uuid[]) AND deleted_at IS NULL AND status = 'open' "
            "GROUP BY assignee_id",
    "objection": "SELECT assignee_id AS who, count(*) AS n FROM records.objections "
                 "WHERE tenant_id = $1 AND assignee_id = ANY($2::uuid[]) AND deleted_at IS NULL "
                 "AND status IN ('open', 'in_progress', 'reopened') GROUP BY assignee_id",
    "opportunity": "SELECT owner_id AS who, count(*) AS n FROM records.opportunities "
                   "WHERE tenant_id = $1 AND owner_id = ANY($2::uuid[]) AND deleted_at IS NULL AND status = 'open' "
                   "GROUP BY owner_id",
}
KINDS = tuple(_OPEN_WORK)


async def open_work(unit: Unit, kind: str, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Open records of ``kind`` each user owns or is assigned; users with none answer 0."""
    rows = await unit.fetch(_OPEN_WORK[kind], unit.tenant_id, user_ids)
    counts = {u: 0 for u in user_ids}
    counts.update({r["who"]: int(r["n"]) for r in rows})
    return counts
