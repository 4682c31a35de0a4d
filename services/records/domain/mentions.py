"""Mentions: ``@<name>`` of a tenant's user in an interaction's summary or details or an objection's
description publishes ``<entity>.mentioned`` (in the same transaction as the write), which the
notifications service turns into a "mention" for each user named. Only names new to the text are
published on an update, so editing a text does not tell the same people twice."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from services.records.db import mentions as store
from shared.db import Unit
from shared.events.envelope import Actor

MAX_EXCERPT = 200


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_EXCERPT else flat[: MAX_EXCERPT - 1] + "…"


async def publish(unit: Unit, entity: str, record_id: uuid.UUID, texts: Mapping[str, Any],
                  before: Mapping[str, Any] | None, *, actor: Actor, customer_id: Any) -> None:
    """``texts``: field -> text after the write; ``before``: the same fields before it (update)."""
    for field, text in texts.items():
        if not isinstance(text, str) or "@" not in text:
            continue
        named = await store.named_users(unit, text)
        old = (before or {}).get(field) or ""
        fresh = [r for r in named if f"@{r['name']}" not in old]
        if actor.kind == "user":
            fresh = [r for r in fresh if str(r["id"]) != actor.id]  # naming oneself tells nobody
        if not fresh:
            continue
        actor_name = ""
        if actor.kind == "user" and actor.id:
            actor_name = (await store.names(unit, [uuid.UUID(actor.id)])).get(uuid.UUID(actor.id), "")
        await unit.emit(entity, "mentioned", record_id, actor=actor, data={
            "user_ids": [str(r["id"]) for r in fresh], "field": field, "excerpt": _excerpt(text),
            "actor_name": actor_name, "customer_id": str(customer_id) if customer_id else None,
        })
