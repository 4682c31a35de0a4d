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

from shared.http.openapi import file_answer

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


# --- data quality: the pool, transfer, merge -----------------------------------------------------


class PoolCustomerOut(CustomerOut, kw_only=True):
    pool_since: datetime | None | U = UNSET  # when it entered the public pool


class TransferOut(msgspec.Struct, kw_only=True):
    """A transfer's report: how many customers and how much open work moved."""

    id: uuid.UUID
    to_user_id: uuid.UUID
    customers: int
    customer_ids: list[uuid.UUID]
    tasks: int
    objections: int
    opportunities: int
    skipped: list[HandoverSkippedOut] | U = UNSET   # open work a pending approval kept back


class HandoverSkippedOut(msgspec.Struct, kw_only=True):
    """A record a handover left with the leaver, and why."""

    entity: str                 # customer | interaction | task | objection | opportunity
    record_id: uuid.UUID
    customer_id: uuid.UUID | None
    reason: str                 # approval-pending
    approval_id: uuid.UUID
    fields: list[str]           # the guarded fields the move would have changed


class HandoverReportOut(msgspec.Struct, kw_only=True):
    """What moved: counts per entity (a transfer's report also lists its customers)."""

    customers: int
    contacts_follow: bool | U = UNSET
    customer_ids: list[uuid.UUID] | U = UNSET
    interactions: int | U = UNSET
    tasks: int | U = UNSET
    objections: int | U = UNSET
    opportunities: int | U = UNSET
    skipped: list[HandoverSkippedOut] | U = UNSET


class HandoverOut(msgspec.Struct, kw_only=True):
    """A handover just made (``POST /handovers``)."""

    id: uuid.UUID
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID | None
    to_pool: bool
    trigger: str                # api | user_deactivated
    report: HandoverReportOut
    created_at: datetime


class HandoverLogOut(msgspec.Struct, kw_only=True):
    """One handover or transfer in ``GET /handovers``."""

    id: uuid.UUID
    kind: str                   # handover | transfer
    from_user_id: uuid.UUID | None
    to_user_id: uuid.UUID | None
    trigger: str
    report: HandoverReportOut
    created_by: uuid.UUID | None
    created_at: datetime


class PoolPreviewItem(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    reason: str                 # no_interaction | no_won_deal
    due_at: datetime
    warned: bool
    last_interaction_at: datetime | None
    last_won_at: datetime | None
    detail: str


class PoolPreviewOut(msgspec.Struct, kw_only=True):
    rules_version: int
    enabled: bool
    returns: list[PoolPreviewItem]
    warnings: list[PoolPreviewItem]
    returns_total: int
    warnings_total: int


class StatusChangeOut(msgspec.Struct, kw_only=True):
    """One status move of an objection (the first: its creation, from null to open)."""

    id: uuid.UUID
    objection_id: uuid.UUID
    from_status: str | None
    to_status: str
    changed_by: uuid.UUID | None
    changed_at: datetime


class StageMoveOut(msgspec.Struct, kw_only=True):
    """One stage an opportunity entered; fields hidden from the caller are left out."""

    id: uuid.UUID | U = UNSET
    at: datetime | U = UNSET
    by: uuid.UUID | None | U = UNSET
    pipeline_id: uuid.UUID | U = UNSET
    from_stage: uuid.UUID | None | U = UNSET
    from_stage_name: str | None | U = UNSET
    to_stage: uuid.UUID | U = UNSET
    to_stage_name: str | None | U = UNSET
    status: str | U = UNSET
    amount: str | None | U = UNSET
    currency: str | None | U = UNSET
    probability: int | None | U = UNSET


class StageHistoryOut(msgspec.Struct, kw_only=True):
    items: list[StageMoveOut]


class RecordChangeOut(msgspec.Struct, kw_only=True):
    """One field's change of a record of a known entity (the path names it)."""

    id: int
    field: str
    old: Any
    new: Any
    changed_at: datetime
    actor: ChangeActorOut


class DuplicateGroupOut(msgspec.Struct, kw_only=True):
    ids: list[uuid.UUID]        # customers that match each other
    rules: list[str]            # the rules that matched them


class DuplicateScanOut(msgspec.Struct, kw_only=True):
    """A duplicate scan: its progress (``done`` of ``total``) and, once succeeded, its groups."""

    id: uuid.UUID
    status: str                 # queued | running | succeeded | failed
    total: int
    done: int
    groups: list[DuplicateGroupOut]
    error: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ContactMergeOut(msgspec.Struct, kw_only=True):
    kept: uuid.UUID
    merged: list[uuid.UUID]


class MergeOut(msgspec.Struct, kw_only=True):
    merge_id: uuid.UUID
    customer: CustomerOut
    merged_ids: list[uuid.UUID]
    moved: dict[str, int]  # entity -> how many of its records moved to the survivor
    contacts_merged: list[ContactMergeOut]
    undo_until: datetime


class MergeUndoOut(msgspec.Struct, kw_only=True):
    merge_id: uuid.UUID
    customer: CustomerOut
    restored_ids: list[uuid.UUID]


class PoolLogEntry(msgspec.Struct, kw_only=True):
    id: int
    customer_id: uuid.UUID
    action: str  # claimed | returned | released | warned | assigned
    user_id: uuid.UUID | None  # the claimer, or the owner the customer left or was warned
    actor_id: str | None
    reason: str | None
    rule_version: int | None
    at: datetime


class DuplicateRulesOut(msgspec.Struct, kw_only=True):
    """Every rule's action resolved (block | warn | off)."""

    version: int
    phone: str
    email: str
    uscc: str
    name: str
    name_threshold: float
    follows_settings: list[str]  # the exact rules that take the records settings' duplicate_rule


# --- imports and exports ---------------------------------------------------------------------------


class SkippedRowOut(msgspec.Struct, kw_only=True):
    """A row skipped as a duplicate: of a stored record (``matched_id``) or an earlier row."""

    row: int
    rule: str
    matched_id: uuid.UUID | None
    matched_row: int | None


class ImportOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    entity: str  # customer | contact
    status: str  # queued | running | succeeded | failed
    file_name: str
    file_format: str  # csv | xlsx
    encoding: str | None
    on_duplicate: str  # skip | update | create
    dry_run: bool
    mapping: dict[str, str | None]  # file column -> field (null: ignored)
    rows_total: int | None
    rows_done: int
    rows_failed: int
    rows_created: int
    rows_updated: int
    rows_skipped: int
    error: str | None
    created_at: datetime
    created_by: uuid.UUID | None
    started_at: datetime | None
    finished_at: datetime | None
    errors_deleted_at: datetime | None
    errors_url: str | U = UNSET  # until the reports are deleted
    skipped_url: str | U = UNSET


class ImportCreatedOut(ImportOut, kw_only=True):
    header: list[str]
    ignored_columns: list[str]


class ImportDetailOut(ImportOut, kw_only=True):
    skipped: list[SkippedRowOut]  # the first 100
    skipped_truncated: bool


class ImportMappingOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    entity: str
    name: str
    mapping: dict[str, str | None]
    created_at: datetime
    created_by: uuid.UUID | None


class ImportMappingList(msgspec.Struct, kw_only=True):
    items: list[ImportMappingOut]


class ExportOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    entity: str
    format: str  # csv | xlsx
    filters: dict[str, Any]  # as sent: the list's query parameters
    status: str  # queued | running | succeeded | failed
    rows_done: int
    file_bytes: int | None
    error: str | None
    created_at: datetime
    created_by: uuid.UUID | None
    started_at: datetime | None
    finished_at: datetime | None
    file_deleted_at: datetime | None
    file_url: str | U = UNSET  # once succeeded, until the file is deleted
    file_expires_at: datetime | U = UNSET


# --- custom fields, the timeline -------------------------------------------------------------------


class FieldOptionOut(msgspec.Struct, kw_only=True):
    key: str
    label: str


class CustomFieldOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    entity: str
    key: str
    label: str
    type: str  # text, long_text, number, decimal, date, datetime, boolean, single_select, multi_select, ...
    required: bool
    unique: bool
    options: list[FieldOptionOut]  # for selects
    validation: dict[str, Any]  # min_length, max_length, min, max, pattern
    default: Any  # a value of the field's type, or null
    description: str
    position: int
    status: str  # active | retired
    version: int
    created_at: datetime
    updated_at: datetime


class TimelineItemOut(msgspec.Struct, kw_only=True):
    kind: str  # interaction, objection_status, task, opportunity_stage, field_change, attachment_added, ...
    at: datetime
    id: str
    entity: str
    entity_id: uuid.UUID
    summary: str  # one line, in English; `data` has the details
    data: dict[str, Any]  # what the kind records, without the fields hidden from the caller


class ChangeActorOut(msgspec.Struct, kw_only=True):
    kind: str  # user | api_key | system | ...
    id: str | None


class FieldChangeOut(msgspec.Struct, kw_only=True):
    """One field's change on a record: who, when, the old and the new value."""

    id: int
    entity: str
    record_id: uuid.UUID
    field: str
    old: Any  # a value of the field's type, or null
    new: Any
    changed_at: datetime
    actor: ChangeActorOut


# --- reports (a breakdown by a field hidden from the caller is empty; a hidden figure is absent) -----


class ObjectionFigures(msgspec.Struct, kw_only=True):
    count: int
    resolved: int
    median_hours_to_resolve: float | None
    p90_hours_to_resolve: float | None
    resolved_with_sla: int
    resolved_within_sla: int
    share_resolved_within_sla: float | None


class ObjectionCategoryFigures(ObjectionFigures, kw_only=True):
    category: str


class ObjectionCategoryStatusFigures(ObjectionCategoryFigures, kw_only=True):
    status: str


class ObjectionsReport(msgspec.Struct, kw_only=True):
    from_: date | None = msgspec.field(name="from")
    to: date | None
    time_zone: str
    by_category_status: list[ObjectionCategoryStatusFigures]
    by_category: list[ObjectionCategoryFigures]
    overall: ObjectionFigures
    by_sla_state: dict[str, int]  # on_track, at_risk, breached, met, none -> count; {} when sla_state is hidden


class WeekCount(msgspec.Struct, kw_only=True):
    week: str  # ISO week, e.g. 2026-W05
    week_start: date
    count: int


class ChannelWeek(WeekCount, kw_only=True):
    channel: str


class OwnerWeek(WeekCount, kw_only=True):
    owner_id: uuid.UUID | None


class InteractionsReport(msgspec.Struct, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    time_zone: str
    by_channel: list[ChannelWeek]
    by_owner: list[OwnerWeek]


class ResolutionWeek(msgspec.Struct, kw_only=True):
    week: str  # ISO week of the resolution, e.g. 2026-W05
    week_start: date
    resolved: int
    median_hours_to_resolve: float | None
    # Absent when the caller's role hides the due time (the share would reveal it).
    resolved_with_sla: int | U = UNSET
    resolved_within_sla: int | U = UNSET
    share_resolved_within_sla: float | None | U = UNSET


class ObjectionResolutionReport(msgspec.Struct, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    time_zone: str
    weeks: list[ResolutionWeek]


class QuietCustomer(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str | U = UNSET
    owner_id: uuid.UUID | None | U = UNSET
    last_interaction_at: datetime | None
    created_at: datetime | U = UNSET


class QuietCustomersReport(msgspec.Struct, kw_only=True):
    days: int
    count: int
    items: list[QuietCustomer]


class CurrencyFigures(msgspec.Struct, kw_only=True):
    currency: str | None
    count: int
    amount: str | U = UNSET  # decimal strings; absent when amount is hidden from the caller
    weighted_amount: str | U = UNSET


class StageValue(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    position: int
    kind: str
    probability: int | None
    count: int
    by_currency: list[CurrencyFigures]


class PipelineRef(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str


class PipelineValueReport(msgspec.Struct, kw_only=True):
    pipeline: PipelineRef
    stages: list[StageValue]
    totals: list[CurrencyFigures]


class Satisfaction(msgspec.Struct, kw_only=True):
    rated: int
    average: float | None


class CategorySatisfaction(Satisfaction, kw_only=True):
    category: str


class SatisfactionReport(msgspec.Struct, kw_only=True):
    overall: Satisfaction
    by_category: list[CategorySatisfaction]


class SavedViewOut(msgspec.Struct, kw_only=True):
    """A saved list view: ``mine`` is true for the caller's own (only those can be changed)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    entity: str
    name: str
    columns: list[str]
    filters: dict[str, str]
    sort: str | None
    shared: str  # private | department | tenant
    department_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    mine: bool


class SavedViewList(msgspec.Struct, kw_only=True):
    """The caller's own views of the entity first, then those shared with them, by name."""

    items: list[SavedViewOut]


class BulkFailure(msgspec.Struct, kw_only=True):
    """One record a bulk action left alone: ``type`` is the problem type a single request would
    have answered (customer-not-found, already-in-pool, approval-pending, permission-denied...)."""

    id: uuid.UUID
    status: int
    type: str
    title: str  # in the caller's language (Accept-Language)
    message: str


class BulkResult(msgspec.Struct, kw_only=True):
    """What a bulk action did: ``done`` changed (or already as asked), ``failed`` left alone and why."""

    done: list[uuid.UUID]
    failed: list[BulkFailure]


def answers(status: int, schema: Any, description: str = "") -> dict[int, ResponseSpec]:
    """``responses=`` for a handler whose answer (a dict) has the documented shape ``schema``."""
    return {status: ResponseSpec(data_container=schema, description=description or "Success",
                                 generate_examples=False)}


__all__ = ["CUSTOMER_ID", "ChangeActorOut", "ContactMergeOut", "ContactOut", "ContactPointOut", "CustomFieldOut",
           "CustomerOut", "DuplicateOut", "DuplicateRulesOut", "BulkFailure", "BulkResult", "ExportOut", "FieldChangeOut", "FieldOptionOut",
           "ImportCreatedOut", "ImportDetailOut", "ImportMappingList", "ImportMappingOut", "ImportOut",
           "InteractionOut", "InteractionsReport", "MergeOut", "MergeUndoOut", "ObjectionOut", "ObjectionsReport",
           "OpportunityOut", "Page", "PipelineValueReport", "PoolCustomerOut", "PoolLogEntry",
           "QuietCustomersReport", "Record", "SatisfactionReport", "SavedViewList", "SavedViewOut", "SkippedRowOut", "TaskOut", "TimelineItemOut",
           "TransferOut", "answers", "file_answer"]
