"""/api/v1/operator/mail: what the local SMTP sink caught (embedded default), for operators
(``huike mail list|show``). Operator token only; every tenant's mail is here."""

from __future__ import annotations

import email.policy
from datetime import datetime
from email.parser import BytesParser

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from services.notifications.db import store
from shared.errors import NotFound, ValidationProblem
from shared.http import RuntimeDep
from shared.http.operator import operator_only

SERVICE = "notifications"


class SinkMailSummary(msgspec.Struct):
    id: int
    received_at: datetime
    mail_from: str
    rcpt_to: list[str]
    subject: str
    message_id: str | None


class SinkMail(SinkMailSummary, kw_only=True):
    text: str
    html: str | None
    raw: str


class SinkMailList(msgspec.Struct):
    items: list[SinkMailSummary]


def _summary(row: object) -> dict[str, object]:
    return {k: row[k] for k in ("id", "received_at", "mail_from", "rcpt_to", "subject", "message_id")}  # type: ignore[index]


class SinkMailController(Controller):
    path = "/operator/mail"
    tags = ["operator"]
    guards = [operator_only]
    opt = {"exclude_from_auth": True}

    @get()
    async def list_sink_mail(self, runtime: RuntimeDep, limit: FromQuery[int] = 50,
                             to: FromQuery[str | None] = None) -> SinkMailList:
        """The newest mail first; ``to`` keeps mail to one address."""
        if not 1 <= limit <= 200:
            raise ValidationProblem.one("limit", "must be between 1 and 200", "out_of_range")
        async with runtime.db(SERVICE).system_unit() as unit:
            rows = await store.sink_list(unit, limit, to)
        return SinkMailList([SinkMailSummary(**_summary(r)) for r in rows])  # type: ignore[arg-type]

    @get("/{mail_id:int}")
    async def show_sink_mail(self, mail_id: FromPath[int], runtime: RuntimeDep) -> SinkMail:
        if not 0 < mail_id < 2**63:
            raise NotFound("No such mail")
        async with runtime.db(SERVICE).system_unit() as unit:
            row = await store.sink_get(unit, mail_id)
        if row is None:
            raise NotFound("No such mail")
        message = BytesParser(policy=email.policy.default).parsebytes(row["raw"])
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        return SinkMail(**_summary(row), text=text_part.get_content() if text_part else "",  # type: ignore[arg-type]
                        html=html_part.get_content() if html_part else None,
                        raw=row["raw"].decode("utf-8", "replace"))
