"""A customer's timeline: one UNION ALL over per-kind queries, newest first, keyset on (at, kind, id).

Each branch reads one table by an index on (tenant_id, customer_id, <time>) and carries its own
ORDER BY and LIMIT, so a page costs about ``limit`` rows per kind however long the history is.
Ids are compared as text (uuids as their hex form, field history's bigint zero-padded), so the
order inside a branch and across branches is the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

# kind -> (permission entity, SQL with {after} and {limit} slots; alias t = the row of that kind).
# Every branch selects: kind, at, id (text), entity, entity_id, data (jsonb).
_BRANCHES: dict[str, tuple[str, str]] = {
    "interaction": ("interaction", """
        SELECT 'interaction'::text AS kind, t.occurred_at AS at, t.id::text AS id, 'interaction'::text AS entity,
               t.id AS entity_id,
               jsonb_build_object('channel', t.channel, 'direction', t.direction, 'summary', t.summary,
                                  'owner_id', t.owner_id, 'next_follow_up_at', t.next_follow_up_at) AS data
        FROM records.interactions t
        WHERE t.tenant_id = $1 AND t.customer_id = $2 AND t.deleted_at IS NULL AND {scope} {after}
        ORDER BY t.occurred_at DESC, t.id DESC LIMIT {limit}"""),
    "objection_created": ("objection", """
        SELECT 'objection_created'::text, t.created_at, t.id::text, 'objection'::text, t.id,
               jsonb_build_object('category', t.category, 'severity', t.severity, 'status', t.status,
                                  'description', t.description, 'assignee_id', t.assignee_id, 'due_at', t.due_at)
        FROM records.objections t
        WHERE t.tenant_id = $1 AND t.customer_id = $2 AND t.deleted_at IS NULL AND {scope} {after}
        ORDER BY t.created_at DESC, t.id DESC LIMIT {limit}"""),
    # Status moves after creation (the creation row is the objection_created item).
    "objection_status": ("objection", """
        SELECT 'objection_status'::text, h.changed_at, h.id::text, 'objection'::text, t.id,
               jsonb_build_object('from_status', h.from_status, 'to_status', h.to_status, 'by', h.changed_by,
                                  'category', t.category)
        FROM records.objections t
        JOIN records.objection_status_history h ON h.tenant_id = t.tenant_id AND h.objection_id = t.id
        WHERE t.tenant_id = $1 AND t.customer_id = $2 AND t.deleted_at IS NULL AND h.from_status IS NOT NULL
          AND {scope} {after}
        ORDER BY h.changed_at DESC, h.id DESC LIMIT {limit}"""),
    "task": ("task", """
        SELECT 'task'::text, t.created_at, t.id::text, 'task'::text, t.id,
               jsonb_build_object('title', t.title, 'status', t.status, 'due_at', t.due_at,
                                  'assignee_id', t.assignee_id)
        FROM records.tasks t
        WHERE t.tenant_id = $1 AND t.customer_id = $2 AND t.deleted_at IS NULL AND {scope} {after}
        ORDER BY t.created_at DESC, t.id DESC LIMIT {limit}"""),
    "opportunity_stage": ("opportunity", """
        SELECT 'opportunity_stage'::text, h.at, h.id::text, 'opportunity'::text, h.opportunity_id,
               jsonb_build_object('name', t.name, 'from_stage', h.from_stage_id, 'from_stage_name', h.from_stage_name,
                                  'to_stage', h.to_stage_id, 'to_stage_name', h.to_stage_name, 'status', h.to_status,
                                  'amount', to_char(h.amount, 'FM9999999999999990.00'), 'currency', h.currency,
                                  'probability', h.probability, 'by', h.changed_by)
        FROM records.opportunity_stage_history h
        JOIN records.opportunities t ON t.tenant_id = h.tenant_id AND t.id = h.opportunity_id
        WHERE h.tenant_id = $1 AND h.customer_id = $2 AND t.deleted_at IS NULL AND {scope} {after}
        ORDER BY h.at DESC, h.id DESC LIMIT {limit}"""),
}

# Attachments of the customer and of its children: the caller sees one when they see its record
# ({visible}: the record's live row is in their data scope; a customer's own are visible with it).
_ATTACHMENT_DATA = "jsonb_build_object('name', t.name, 'size', t.size, 'content_type', t.content_type, " \
                   "'record_entity', t.entity, 'record_id', t.record_id, 'by', {by})"
_ATTACHMENT_BRANCHES: dict[str, str] = {
    "attachment_added": f"""
        SELECT 'attachment_added'::text, t.created_at, t.id::text, 'attachment'::text, t.id,
               {_ATTACHMENT_DATA.format(by="t.created_by")}
        FROM records.attachments t
        WHERE t.tenant_id = $1 AND t.customer_id = $2 AND {{visible}} {{after}}
        ORDER BY t.created_at DESC, t.id DESC LIMIT {{limit}}""",
    "attachment_removed": f"""
        SELECT 'attachment_removed'::text, t.deleted_at, t.id::text, 'attachment'::text, t.id,
               {_ATTACHMENT_DATA.format(by="t.deleted_by")}
        FROM records.attachments t
        WHERE t.tenant_id = $1 AND t.customer_id = $2 AND t.deleted_at IS NOT NULL AND {{visible}} {{after}}
        ORDER BY t.deleted_at DESC, t.id DESC LIMIT {{limit}}""",
}
_ATTACHED_TABLES = {"interaction": "interactions", "objection": "objections", "opportunity": "opportunities"}

# Field changes other items already tell (a stage move, an objection's status move).
_TOLD_ELSEWHERE = ["opportunity.stage", "opportunity.status", "opportunity.pipeline_id", "objection.status"]
# Child tables whose rows the data scope may hide from the caller.
TABLES = {"contact": "contacts", "interaction": "interactions", "objection": "objections", "task": "tasks",
          "opportunity": "opportunities"}


# (time column, id as text) of each branch, for the keyset condition.
_KEYS = {
    "interaction": ("t.occurred_at", "t.id::text"), "objection_created": ("t.created_at", "t.id::text"),
    "objection_status": ("h.changed_at", "h.id::text"), "task": ("t.created_at", "t.id::text"),
    "opportunity_stage": ("h.at", "h.id::text"), "field_change": ("t.changed_at", "lpad(t.id::text, 20, '0')"),
    "attachment_added": ("t.created_at", "t.id::text"), "attachment_removed": ("t.deleted_at", "t.id::text"),
}
KINDS = (*_BRANCHES, *_ATTACHMENT_BRANCHES, "field_change")
ScopeFilter = Callable[[str, str, int], tuple[str, list[Any]]]


async def page(
    unit: Unit, customer_id: uuid.UUID, *, kinds: list[str], field_entities: list[str], hidden_fields: list[str],
    scope_filter: ScopeFilter, after: tuple[datetime, str, str] | None, limit: int,
) -> list[asyncpg.Record]:
    """Up to ``limit + 1`` items, newest first.

    ``kinds`` are the item kinds the caller may read; ``field_entities`` the entities whose field
    changes they may read; ``hidden_fields`` the ``entity.field`` pairs hidden from them;
    ``scope_filter(entity, alias, next_param)`` gives the caller's data-scope condition."""
    args: list[Any] = [unit.tenant_id, customer_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    def scope(entity: str, alias: str) -> str:
        sql, extra = scope_filter(entity, alias, len(args) + 1)
        args.extend(extra)
        return sql

    keyset = ""
    if after is not None:
        at, kind, last_id = arg(after[0]), arg(after[1]), arg(after[2])
        keyset = f"AND {{at}} <= {at} AND ({{at}}, '{{kind}}'::text, {{id}}) < ({at}, {kind}, {last_id})"

    def after_sql(kind: str) -> str:
        at_column, id_column = _KEYS[kind]
        return keyset.format(at=at_column, kind=kind, id=id_column)

    def attachment_visible() -> str:
        # Customer attachments: the customer is visible (checked before). A child's: its live row
        # in the caller's scope (FALSE for an entity they may not read).
        options = ["t.entity = 'customer'"]
        for entity, table in _ATTACHED_TABLES.items():
            options.append(f"""(t.entity = '{entity}' AND EXISTS (SELECT 1 FROM records.{table} c
                               WHERE c.tenant_id = t.tenant_id AND c.id = t.record_id AND c.deleted_at IS NULL
                                 AND {scope(entity, "c")}))""")
        return "(" + " OR ".join(options) + ")"

    parts = []
    for kind in kinds:
        if kind in _ATTACHMENT_BRANCHES:
            sql = _ATTACHMENT_BRANCHES[kind]
            parts.append("(" + sql.format(visible=attachment_visible(), after=after_sql(kind), limit=limit + 1) + ")")
            continue
        entity, sql = _BRANCHES[kind]
        parts.append("(" + sql.format(scope=scope(entity, "t"), after=after_sql(kind), limit=limit + 1) + ")")
    if field_entities:
        # A child's change shows only when the caller may see that child.
        visible = []
        for entity in field_entities:
            if entity in TABLES:
                condition = scope(entity, "c")
                if condition != "TRUE":
                    visible.append(f"""(t.entity <> '{entity}' OR EXISTS (SELECT 1 FROM records.{TABLES[entity]} c
                                       WHERE c.tenant_id = t.tenant_id AND c.id = t.record_id AND {condition}))""")
        parts.append(f"""(
            SELECT 'field_change'::text, t.changed_at, lpad(t.id::text, 20, '0'), t.entity, t.record_id,
                   jsonb_build_object('field', t.field, 'old', t.old, 'new', t.new, 'actor_kind', t.actor_kind,
                                      'actor_id', t.actor_id)
            FROM records.field_history t
            WHERE t.tenant_id = $1 AND t.customer_id = $2 AND t.entity = ANY({arg(field_entities)}::text[])
              AND NOT (t.entity || '.' || split_part(t.field, '.', 1)) = ANY({arg([*hidden_fields, *_TOLD_ELSEWHERE])}::text[])
              AND {' AND '.join(visible) or 'TRUE'} {after_sql('field_change')}
            ORDER BY t.changed_at DESC, t.id DESC LIMIT {limit + 1})""")
    if not parts:
        return []
    return await unit.fetch(
        f"""SELECT kind, at, id, entity, entity_id, data
            FROM ({' UNION ALL '.join(parts)}) AS items (kind, at, id, entity, entity_id, data)
            ORDER BY at DESC, kind DESC, id DESC LIMIT {limit + 1}""",
        *args,
    )
