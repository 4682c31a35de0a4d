"""SQL of approval templates and approvals (the one place it lives)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

TEMPLATE_COLUMNS = ("id, name, description, entity, condition, guarded_fields, steps, enabled, version, created_by, "
                    "created_at, updated_at, trigger")
APPROVAL_COLUMNS = ("id, template_id, template_version, name, entity, record_id, submitted_by, status, current_step, "
                    "steps, guarded_fields, run_id, run_path, created_at, step_started_at, finished_at, version")


# --- templates ------------------------------------------------------------------------------------


async def insert_template(unit: Unit, *, name: str, description: str | None, entity: str, condition: str | None,
                          guarded_fields: list[str], steps: Any, enabled: bool, created_by: uuid.UUID,
                          trigger: dict[str, Any] | None = None) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO workflows.approval_templates (tenant_id, id, name, description, entity, condition,
                                                      guarded_fields, steps, enabled, created_by, trigger)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {TEMPLATE_COLUMNS}""",
        unit.tenant_id, uuid.uuid4(), name, description, entity, condition, guarded_fields, steps, enabled, created_by,
        trigger)


async def triggered_templates(unit: Unit, entity: str) -> list[asyncpg.Record]:
    """The enabled templates of ``entity`` that a record change requests by themselves."""
    return await unit.fetch(
        f"""SELECT {TEMPLATE_COLUMNS} FROM workflows.approval_templates
            WHERE tenant_id = $1 AND entity = $2 AND trigger IS NOT NULL AND enabled AND deleted_at IS NULL""",
        unit.tenant_id, entity)


async def get_template(unit: Unit, template_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"""SELECT {TEMPLATE_COLUMNS} FROM workflows.approval_templates
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL{lock}""", unit.tenant_id, template_id)


async def update_template(unit: Unit, template_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
    sets = [f"{column} = ${i}" for i, column in enumerate(changes, start=3)]
    return await unit.fetchrow(
        f"""UPDATE workflows.approval_templates SET {', '.join(sets)}, version = version + 1, updated_at = now()
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {TEMPLATE_COLUMNS}""",
        unit.tenant_id, template_id, *changes.values())


async def delete_template(unit: Unit, template_id: uuid.UUID) -> bool:
    status = await unit.execute("UPDATE workflows.approval_templates SET deleted_at = now(), enabled = false "
                                "WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL", unit.tenant_id, template_id)
    return status.endswith(" 1")


async def page_templates(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {TEMPLATE_COLUMNS} FROM workflows.approval_templates
            WHERE tenant_id = $1 AND deleted_at IS NULL
              AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $4""",
        unit.tenant_id, after[0] if after else None, after[1] if after else None, limit + 1)


# --- approvals ------------------------------------------------------------------------------------


async def insert_approval(unit: Unit, approval_id: uuid.UUID, template: asyncpg.Record, *, record_id: uuid.UUID,
                          submitted_by: uuid.UUID, run_id: uuid.UUID | None, run_path: str | None) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO workflows.approvals (tenant_id, id, template_id, template_version, name, entity, record_id,
                                             submitted_by, steps, guarded_fields, run_id, run_path)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {APPROVAL_COLUMNS}""",
        unit.tenant_id, approval_id, template["id"], template["version"], template["name"], template["entity"],
        record_id, submitted_by, template["steps"], template["guarded_fields"], run_id, run_path)


async def get(unit: Unit, approval_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {APPROVAL_COLUMNS} FROM workflows.approvals WHERE tenant_id = $1 AND id = $2{lock}",
                               unit.tenant_id, approval_id)


async def of_run(unit: Unit, run_id: uuid.UUID, path: str) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {APPROVAL_COLUMNS} FROM workflows.approvals WHERE tenant_id = $1 "
                               "AND run_id = $2 AND run_path = $3", unit.tenant_id, run_id, path)


async def pending_of_run(unit: Unit, run_id: uuid.UUID) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {APPROVAL_COLUMNS} FROM workflows.approvals WHERE tenant_id = $1 "
                            "AND run_id = $2 AND status = 'pending' FOR UPDATE", unit.tenant_id, run_id)


async def pending_of(unit: Unit, entity: str, record_id: uuid.UUID, template_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {APPROVAL_COLUMNS} FROM workflows.approvals WHERE tenant_id = $1 "
                               "AND entity = $2 AND record_id = $3 AND template_id = $4 AND status = 'pending'",
                               unit.tenant_id, entity, record_id, template_id)


async def set_state(unit: Unit, approval_id: uuid.UUID, *, status: str, current_step: int,
                    step_started: bool) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""UPDATE workflows.approvals SET status = $3, current_step = $4, version = version + 1,
              step_started_at = CASE WHEN $5 THEN now() ELSE step_started_at END,
              finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
            WHERE tenant_id = $1 AND id = $2 RETURNING {APPROVAL_COLUMNS}""",
        unit.tenant_id, approval_id, status, current_step, step_started)


async def page(unit: Unit, *, assigned_to: uuid.UUID | None, submitted_by: uuid.UUID | None, status: str | None,
               after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    """Newest first. ``assigned_to``: pending approvals whose current step waits for that user."""
    return await unit.fetch(
        f"""SELECT {APPROVAL_COLUMNS} FROM workflows.approvals a
            WHERE a.tenant_id = $1
              AND ($2::uuid IS NULL OR (a.status = 'pending' AND EXISTS (
                    SELECT 1 FROM workflows.approval_approvers p WHERE p.tenant_id = a.tenant_id
                      AND p.approval_id = a.id AND p.step = a.current_step AND p.user_id = $2 AND p.decision IS NULL)))
              AND ($3::uuid IS NULL OR a.submitted_by = $3)
              AND ($4::text IS NULL OR a.status = $4)
              AND ($5::timestamptz IS NULL OR (a.created_at, a.id) < ($5, $6::uuid))
            ORDER BY a.created_at DESC, a.id DESC LIMIT $7""",
        unit.tenant_id, assigned_to, submitted_by, status, after[0] if after else None, after[1] if after else None,
        limit + 1)


# --- approvers and decisions ----------------------------------------------------------------------


async def add_approvers(unit: Unit, approval_id: uuid.UUID, step: int, users: list[uuid.UUID],
                        added_by: uuid.UUID | None = None) -> None:
    await unit.execute(
        """INSERT INTO workflows.approval_approvers (tenant_id, approval_id, step, user_id, added_by)
           SELECT $1, $2, $3, u, $5 FROM unnest($4::uuid[]) AS u ON CONFLICT DO NOTHING""",
        unit.tenant_id, approval_id, step, users, added_by)


async def approvers(unit: Unit, approval_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT approval_id, step, user_id, added_by, decision, comment, decided_at FROM workflows.approval_approvers
           WHERE tenant_id = $1 AND approval_id = ANY($2::uuid[]) ORDER BY approval_id, step, user_id""",
        unit.tenant_id, approval_ids)


async def decide(unit: Unit, approval_id: uuid.UUID, step: int, user_id: uuid.UUID, decision: str,
                 comment: str | None) -> None:
    await unit.execute(
        """UPDATE workflows.approval_approvers SET decision = $5, comment = $6, decided_at = now()
           WHERE tenant_id = $1 AND approval_id = $2 AND step = $3 AND user_id = $4""",
        unit.tenant_id, approval_id, step, user_id, decision, comment)


async def log(unit: Unit, approval_id: uuid.UUID, step: int, user_id: uuid.UUID, decision: str,
              comment: str | None, target_id: uuid.UUID | None = None) -> None:
    await unit.execute(
        """INSERT INTO workflows.approval_decisions (tenant_id, approval_id, seq, step, user_id, decision, comment,
                                                     target_id)
           SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7
           FROM workflows.approval_decisions WHERE tenant_id = $1 AND approval_id = $2""",
        unit.tenant_id, approval_id, step, user_id, decision, comment, target_id)


async def decisions(unit: Unit, approval_id: uuid.UUID) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT seq, step, user_id, decision, comment, target_id, decided_at FROM workflows.approval_decisions
           WHERE tenant_id = $1 AND approval_id = $2 ORDER BY seq""", unit.tenant_id, approval_id)
