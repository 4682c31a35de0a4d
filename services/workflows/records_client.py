"""Asking records to act: its command RPC over NATS (workflows never touches records' tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from shared.errors import Problem

COMMAND_SUBJECT = "huike.rpc.records.command"
SLA_SUBJECT = "huike.rpc.records.sla"
HEALTH_SUBJECT = "huike.rpc.records.health"
TIMEOUT_SECONDS = 10.0


class RecordsUnavailable(Exception):
    """Records did not answer (or answered 503): the step is retried later, not failed."""


class CommandFailed(Exception):
    """Records refused the command (validation, permission, conflict): the step fails with this reason."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors") or [])
        super().__init__(f"{status} {problem.get('detail') or problem.get('title') or ''}"
                         + (f" ({errors})" if errors and errors not in str(problem.get("detail")) else ""))


class Command(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    tenant_id: uuid.UUID
    author_id: uuid.UUID
    workflow_id: uuid.UUID
    run_id: uuid.UUID
    depth: int = 0
    key: str
    op: str
    entity: str
    record_id: uuid.UUID | None = None
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


class _Answer(msgspec.Struct):
    status: int
    record: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None


class SlaWrite(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    objection_id: uuid.UUID
    sla_state: str | None
    sla_due_at: datetime | None
    first_response_due_at: datetime | None
    reassign_to: uuid.UUID | None = None


class RecordsClient:
    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def set_health(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, score: int,
                         reasons: list[dict[str, Any]]) -> bool:
        """Records' copy of a customer's health; False when the customer is gone."""
        return await self._system_write(HEALTH_SUBJECT, {"tenant_id": str(tenant_id), "customer_id": str(customer_id),
                                                         "score": score, "reasons": reasons})

    async def set_sla(self, tenant_id: uuid.UUID, objection_id: uuid.UUID, state: str | None,
                      sla_due_at: datetime | None, first_response_due_at: datetime | None, *,
                      reassign_to: uuid.UUID | None = None) -> bool:
        """Records' copy of an objection's SLA; False when the objection is gone."""
        return await self._system_write(SLA_SUBJECT, SlaWrite(
            tenant_id=tenant_id, objection_id=objection_id, sla_state=state, sla_due_at=sla_due_at,
            first_response_due_at=first_response_due_at, reassign_to=reassign_to))

    async def _system_write(self, subject: str, body: Any) -> bool:
        try:
            msg = await self.nc.request(subject, msgspec.json.encode(body), timeout=TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - no responders, timeout, connection closed: all "later"
            raise RecordsUnavailable(f"records did not answer: {type(exc).__name__}") from exc
        answer = msgspec.json.decode(msg.data, type=_Answer)
        if answer.status >= 500:
            raise RecordsUnavailable(f"records answered {answer.status}: {(answer.problem or {}).get('detail', '')}")
        if answer.status >= 400 and answer.status != 404:
            raise CommandFailed(answer.status, answer.problem or {})
        return answer.status < 400

    async def send(self, command: Command) -> dict[str, Any]:
        """The record records answered; CommandFailed or RecordsUnavailable otherwise."""
        try:
            msg = await self.nc.request(COMMAND_SUBJECT, msgspec.json.encode(command), timeout=TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - no responders, timeout, connection closed: all "later"
            raise RecordsUnavailable(f"records did not answer: {type(exc).__name__}") from exc
        answer = msgspec.json.decode(msg.data, type=_Answer)
        if answer.status >= 500:
            raise RecordsUnavailable(f"records answered {answer.status}: {(answer.problem or {}).get('detail', '')}")
        if answer.status >= 400:
            raise CommandFailed(answer.status, answer.problem or {})
        return answer.record or {}


__all__ = ["Command", "CommandFailed", "Problem", "RecordsClient", "RecordsUnavailable"]
