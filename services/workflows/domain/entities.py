"""The records entities a workflow can trigger on and the fields their events carry.

Workflows reads no records table: these names are the public contract of records' API and events
(``data.record`` of ``crm.records.<tenant>.<entity>.<action>``), written down once here so a
definition naming a field that does not exist is refused when it is saved, not at 3 a.m.
"""

from __future__ import annotations

from functools import cache

ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")

_COMMON = frozenset({"id", "version", "created_at", "updated_at", "created_by", "updated_by", "custom_fields"})
_FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset({
        "name", "kind", "aliases", "uscc", "phone", "phones", "email", "emails", "website", "industry", "address",
        "source", "owner_id", "department_id", "lifecycle_stage", "tier", "tags", "next_follow_up_at",
        "last_interaction_at", "deleted_at", "health_score", "health_reasons",
    }),
    "contact": frozenset({"customer_id", "name", "title", "role_in_deal", "phone", "phones", "email", "emails",
                          "deleted_at"}),
    "interaction": frozenset({
        "customer_id", "channel", "summary", "occurred_at", "direction", "details", "sentiment", "next_step",
        "next_follow_up_at", "contact_ids", "user_ids", "owner_id", "deleted_at",
    }),
    "objection": frozenset({
        "customer_id", "category", "severity", "description", "interaction_id", "assignee_id", "due_at", "status",
        "resolution", "satisfaction", "owner_id", "resolved_at", "closed_at", "deleted_at", "sla_state",
        "sla_due_at", "first_response_due_at",
    }),
    "task": frozenset({"customer_id", "title", "description", "due_at", "remind_at", "assignee_id", "status",
                       "completed_at", "deleted_at"}),
    "opportunity": frozenset({
        "customer_id", "name", "pipeline_id", "stage", "amount", "currency", "expected_close_date", "owner_id",
        "probability", "won_reason", "lost_reason", "description", "deleted_at", "status", "stage_name",
        "closed_at",
    }),
}
_DATES: dict[str, frozenset[str]] = {
    "customer": frozenset({"next_follow_up_at", "last_interaction_at", "created_at"}),
    "contact": frozenset({"created_at"}),
    "interaction": frozenset({"occurred_at", "next_follow_up_at"}),
    "objection": frozenset({"due_at", "created_at"}),
    "task": frozenset({"due_at", "remind_at"}),
    "opportunity": frozenset({"expected_close_date", "created_at"}),
}


@cache
def fields_of(entity: str) -> frozenset[str]:
    return _FIELDS[entity] | _COMMON


def date_fields(entity: str) -> frozenset[str]:
    return _DATES[entity]


__all__ = ["ENTITIES", "date_fields", "fields_of"]
