"""records.pipelines and records.pipeline_stages: a tenant's pipelines and their ordered stages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = "p.id, p.name, p.is_default, p.version, p.created_at, p.updated_at, p.created_by, p.updated_by"
STAGE_COLUMNS = "s.id, s.pipeline_id, s.name, s.position, s.probability, s.kind, s.required_fields"
# The pipeline with its stages in order, as one row (stages as a JSON array).
_WITH_STAGES = f"""
    SELECT {COLUMNS},
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'id', s.id, 'name', s.name, 'position', s.position, 'probability', s.probability,
                        'kind', s.kind, 'required_fields', to_jsonb(s.required_fields)) ORDER BY s.position)
                     FROM records.pipeline_stages s
                     WHERE s.tenant_id = p.tenant_id AND s.pipeline_id = p.id), '[]'::jsonb) AS stages
    FROM records.pipelines p"""


async def get(unit: Unit, pipeline_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    if for_update:
        # Serialises every change of one pipeline's stages (positions, counts) behind this row lock.
        await unit.execute("SELECT 1 FROM records.pipelines WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                           unit.tenant_id, pipeline_id)
    return await unit.fetchrow(f"{_WITH_STAGES} WHERE p.tenant_id = $1 AND p.id = $2", unit.tenant_id, pipeline_id)


async def get_default(unit: Unit) -> asyncpg.Record | None:
    return await unit.fetchrow(f"{_WITH_STAGES} WHERE p.tenant_id = $1 AND p.is_default", unit.tenant_id)


async def page(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""{_WITH_STAGES}
            WHERE p.tenant_id = $1 AND ($2::timestamptz IS NULL OR (p.created_at, p.id) > ($2, $3))
            ORDER BY p.created_at, p.id LIMIT $4""",
        unit.tenant_id, after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def insert(
    unit: Unit, pipeline_id: uuid.UUID, name: str, *, is_default: bool, user_id: uuid.UUID | None,
    stages: Sequence[dict[str, Any]],
) -> bool:
    """Insert a pipeline and its stages; False (nothing written) when a default already exists and
    this one was to be the default: the lazy creation of the default pipeline can race."""
    inserted = await unit.fetchval(
        """INSERT INTO records.pipelines (tenant_id, id, name, is_default, created_by, updated_by)
           VALUES ($1, $2, $3, $4, $5, $5)
           ON CONFLICT (tenant_id) WHERE is_default DO NOTHING RETURNING id""",
        unit.tenant_id, pipeline_id, name, is_default, user_id,
    )
    if inserted is None:
        return False
    await insert_stages(unit, pipeline_id, stages, first_position=1)
    return True


async def insert_stages(
    unit: Unit, pipeline_id: uuid.UUID, stages: Sequence[dict[str, Any]], *, first_position: int
) -> None:
    await unit.execute(
        """INSERT INTO records.pipeline_stages
             (tenant_id, id, pipeline_id, name, position, probability, kind, required_fields)
           SELECT $1, (e->>'id')::uuid, $2, e->>'name', $3 + t.n - 1, (e->>'probability')::smallint, e->>'kind',
                  ARRAY(SELECT jsonb_array_elements_text(e->'required_fields'))
           FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS t (e, n)""",
        unit.tenant_id, pipeline_id, first_position,
        [{**s, "id": str(s["id"]), "required_fields": list(s["required_fields"])} for s in stages],
    )

async def touch(unit: Unit, pipeline_id: uuid.UUID, user_id: uuid.UUID | None, **columns: Any) -> None:
    """Bump the pipeline's version (its answer includes the stages), setting ``columns`` too."""
    sets = "".join(f", {name} = ${i}" for i, name in enumerate(columns, start=4))
    await unit.execute(
        f"""UPDATE records.pipelines SET version = version + 1, updated_at = now(), updated_by = $3{sets}
            WHERE tenant_id = $1 AND id = $2""",
        unit.tenant_id, pipeline_id, user_id, *columns.values(),
    )


async def clear_default(unit: Unit) -> uuid.UUID | None:
    return await unit.fetchval(
        """UPDATE records.pipelines SET is_default = false, version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND is_default RETURNING id""",
        unit.tenant_id,
    )


async def delete(unit: Unit, pipeline_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM records.pipelines WHERE tenant_id = $1 AND id = $2", unit.tenant_id, pipeline_id)


async def opportunity_count(unit: Unit, pipeline_id: uuid.UUID) -> int:
    """Every opportunity in the pipeline, deleted ones included: they hold their stage until purged."""
    return await unit.fetchval(
        "SELECT count(*) FROM records.opportunities WHERE tenant_id = $1 AND pipeline_id = $2",
        unit.tenant_id, pipeline_id,
    )


async def stage_opportunity_count(unit: Unit, stage_id: uuid.UUID) -> tuple[int, int]:
    """(live, deleted) opportunities in a stage."""
    row = await unit.fetchrow(
        """SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted
           FROM records.opportunities WHERE tenant_id = $1 AND stage_id = $2""",
        unit.tenant_id, stage_id,
    )
    return row["live"], row["deleted"]


async def update_stage(unit: Unit, stage_id: uuid.UUID, columns: dict[str, Any]) -> None:
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
    await unit.execute(
        f"UPDATE records.pipeline_stages SET {sets}, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, stage_id, *columns.values(),
    )


async def set_positions(unit: Unit, pipeline_id: uuid.UUID, stage_ids: Sequence[uuid.UUID]) -> None:
    """Number the pipeline's stages 1..n in the given order (the position constraint is deferred)."""
    await unit.execute(
        """UPDATE records.pipeline_stages s SET position = o.n, updated_at = now()
           FROM unnest($3::uuid[]) WITH ORDINALITY AS o (id, n)
           WHERE s.tenant_id = $1 AND s.pipeline_id = $2 AND s.id = o.id AND s.position <> o.n""",
        unit.tenant_id, pipeline_id, list(stage_ids),
    )


async def delete_stage(unit: Unit, stage_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM records.pipeline_stages WHERE tenant_id = $1 AND id = $2", unit.tenant_id, stage_id)

