"""The answers of the records API as documented schemas (OpenAPI), for clients generated from it.

The handlers build their answers as dicts (field rules remove hidden fields per caller), so every
field but the bookkeeping ones is optional here: a field hidden from the caller is absent, never
null. ``answers(...)`` attaches a schema to a handler's success status.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import msgspec
from litestar.openapi.datastructures import ResponseSpec

T = TypeVar("T")
CUSTOMER_ID = "3f1c2b9e-8d4a-4e6f-9b0a-1c2d3e4f5a6b"  # in examples
U = msgspec.UnsetType
UNSET: Any = msgspec.UNSET


class ContactPointOut(msgspec.Struct, kw_only=True):
    value: str
    label: str | None = None
    primary: bool = False


class DuplicateOut(msgspec.Struct, kw_only=True):
    """A stored record a write may duplicate; one outside the caller's scope shows only its id,
    status and matched rules (``visible: false``)."""

    id: uuid.UUID
    entity: str
    rules: list[str]
    score: float
    status: str  # active | deleted | merged
    visible: bool
    merged_into: uuid.UUID | U = UNSET
    name: str | U = UNSET
    owner_id: uuid.UUID | None | U = UNSET
    customer_id: uuid.UUID | U = UNSET


class Record(msgspec.Struct, kw_only=True):
    """What every record carries."""

    id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None | U = UNSET
    updated_by: uuid.UUID | None | U = UNSET
    owner_id: uuid.UUID | None | U = UNSET
    department_id: uuid.UUID | None | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET


class CustomerOut(Record, kw_only=True):
    name: str | U = UNSET
    aliases: list[str] | U = UNSET
    kind: str | U = UNSET
    uscc: str | None | U = UNSET
    phone: str | None | U = UNSET
    phones: list[ContactPointOut] | U = UNSET
    email: str | None | U = UNSET
    emails: list[ContactPointOut] | U = UNSET
    website: str | None | U = UNSET
    industry: str | None | U = UNSET
    address: str | None | U = UNSET
    source: str | None | U = UNSET
    lifecycle_stage: str | U = UNSET
    tier: str | None | U = UNSET
    tags: list[str] | U = UNSET
    last_interaction_at: datetime | None | U = UNSET
    next_follow_up_at: datetime | None | U = UNSET
    # Workflows' health score: 100 healthy, low means churn risk; reasons: {code, points, ...}.
    health_score: int | None | U = UNSET
    health_reasons: list[dict[str, Any]] | U = UNSET
    duplicates: list[DuplicateOut] | U = UNSET  # on create and update: records it may duplicate


class ContactOut(Record, kw_only=True):
    customer_id: uuid.UUID | U = UNSET
    name: str | U = UNSET
    title: str | None | U = UNSET
    role_in_deal: str | None | U = UNSET
    phone: str | None | U = UNSET
    phones: list[ContactPointOut] | U = UNSET
    email: str | None | U = UNSET
    emails: list[ContactPointOut] | U = UNSET
    duplicates: list[DuplicateOut] | U = UNSET


class InteractionOut(Record, kw_only=True):
    customer_id: uuid.UUID | U = UNSET
    contact_ids: list[uuid.UUID] | U = UNSET
    user_ids: list[uuid.UUID] | U = UNSET
    channel: str | U = UNSET
    direction: str | None | U = UNSET
    occurred_at: datetime | U = UNSET
    summary: str | U = UNSET
    details: str | None | U = UNSET
    sentiment: str | None | U = UNSET
    next_step: str | None | U = UNSET
    next_follow_up_at: datetime | None | U = UNSET


class ObjectionOut(Record, kw_only=True):
    customer_id: uuid.UUID | U = UNSET
    interaction_id: uuid.UUID | None | U = UNSET
    category: str | U = UNSET
    severity: str | U = UNSET
    description: str | U = UNSET
    status: str | U = UNSET
    assignee_id: uuid.UUID | None | U = UNSET
    due_at: datetime | None | U = UNSET
    resolution: str | None | U = UNSET
    satisfaction: int | None | U = UNSET
    resolved_at: datetime | None | U = UNSET
    closed_at: datetime | None | U = UNSET
    reopen_count: int | U = UNSET
    # Kept by workflows on the tenant's business calendar (GET|PUT /api/v1/sla-policy); null until set.
    sla_state: str | None | U = UNSET  # on_track, at_risk, breached, met
    sla_due_at: datetime | None | U = UNSET
    first_response_due_at: datetime | None | U = UNSET


class TaskOut(Record, kw_only=True):
    customer_id: uuid.UUID | U = UNSET
    title: str | U = UNSET
    description: str | None | U = UNSET
    due_at: datetime | None | U = UNSET
    remind_at: datetime | None | U = UNSET
    assignee_id: uuid.UUID | None | U = UNSET
    status: str | U = UNSET
    completed_at: datetime | None | U = UNSET


class OpportunityOut(Record, kw_only=True):
    customer_id: uuid.UUID | U = UNSET
    name: str | U = UNSET
    pipeline_id: uuid.UUID | U = UNSET
    stage: uuid.UUID | U = UNSET
    stage_name: str | U = UNSET
    status: str | U = UNSET
    amount: str | None | U = UNSET  # a decimal string, e.g. "12500.00"
    currency: str | None | U = UNSET
    expected_close_date: date | None | U = UNSET
    probability: int | None | U = UNSET
    probability_override: bool | U = UNSET
    won_reason: str | None | U = UNSET
    lost_reason: str | None | U = UNSET
    closed_at: datetime | None | U = UNSET
    stage_entered_at: datetime | U = UNSET
    description: str | None | U = UNSET


class Page(msgspec.Struct, Generic[T]):
    """A page of a list: ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


def answers(status: int, schema: Any, description: str = "") -> dict[int, ResponseSpec]:
    """``responses=`` for a handler whose answer (a dict) has the documented shape ``schema``."""
    return {status: ResponseSpec(data_container=schema, description=description or "Success",
                                 generate_examples=False)}


__all__ = ["CUSTOMER_ID", "ContactOut", "CustomerOut", "InteractionOut", "ObjectionOut", "OpportunityOut", "Page", "TaskOut",
           "answers"]
