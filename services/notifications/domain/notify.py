"""An event's intents become notification rows and deliveries, in the consumer's transaction.

For each intent: the recipient must be an active user of the event's tenant (identity says so for
``kind: "user"``, with their field rules, language and address); params from a field their role
hides are dropped; their preferences (or the tenant's defaults) pick the channels; a burst with the
same group key within ``COLLAPSE_SECONDS`` grows one row instead of adding one. A row in
``notification_sources`` per (event, recipient, type) makes a redelivered event change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from services.notifications.db import store
from services.notifications.domain import preferences as prefs
from services.notifications.domain.sources import COLLAPSE_SECONDS, HANDLERS, Intent
from services.notifications.domain.types import BY_KEY, DEFAULT_LOCALE, render_mail
from shared.auth import Principal, PrincipalDirectory
from shared.db import Unit
from shared.errors import Forbidden, ServiceUnavailable, Unauthorized
from shared.events.envelope import Actor, Event

SYSTEM = Actor(kind="system", id="notifications")
LINK_PLACEHOLDER = "\u2063LINK\u2063"  # replaced by the opened link when a mail with a sealed token is sent


@dataclass
class Context:
    principals: PrincipalDirectory
    public_url: str
    pushed: dict[uuid.UUID, set[tuple[uuid.UUID, uuid.UUID]]] = field(default_factory=dict)  # event -> (tenant, user)


def record_url(public_url: str, link: tuple[str, str] | None) -> str | None:
    if link is None or not link[1]:
        return None
    return f"{public_url.rstrip('/')}/#/{link[0]}/{link[1]}"


async def recipient(ctx: Context, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Principal | None:
    """The user's current rights and details, or None when they are not an active user of this
    tenant (an id from another tenant resolves to nobody). Identity unreachable raises: retried."""
    try:
        return await ctx.principals.for_user(tenant_id, user_id, acting_as=SYSTEM)
    except ServiceUnavailable as exc:
        # The event is fine; identity is not answering: the consumer keeps it and tries again.
        raise ConnectionError(f"identity unreachable: {exc.detail}") from exc
    except (Unauthorized, Forbidden):
        return None


async def preferences_of(unit: Unit, user_id: uuid.UUID | None) -> prefs.Pair:
    """The user's preferences and the tenant's defaults, from the cache when it has them."""
    if (cached := prefs.CACHE.get(unit.tenant_id, user_id)) is not None:
        return cached
    generation = prefs.CACHE.generation
    pair = await store.preferences_of(unit, user_id)
    prefs.CACHE.put(unit.tenant_id, user_id, pair, generation)
    return pair


def visible_params(intent: Intent, who: Principal | None) -> dict[str, Any]:
    params = dict(intent.params)
    if who is not None:
        for param, (entity, name) in intent.fields.items():
            if who.data.permissions.field_rule(entity, name) == "hidden":
                params.pop(param, None)
    return params


async def handle(unit: Unit, event: Event, ctx: Context) -> None:
    if (event.service, event.entity, event.action) == ("workflows", "digest", "daily"):
        await send_digests(unit, event, ctx)
        return
    make = HANDLERS.get((event.service, event.entity, event.action))
    if make is None:
        return
    for intent in make(event):
        await apply(unit, event, intent, ctx)


@dataclass
class _Row:
    """One common-case intent of a batch: an in-app row (no group key), maybe a mail."""
    event: Event
    intent: Intent
    user_id: uuid.UUID
    who: Principal
    params: dict[str, Any]
    choice: prefs.Choice
    notification_id: uuid.UUID = field(default_factory=uuid.uuid4)


async def handle_batch(unit: Unit, events: list[Event], ctx: Context) -> None:
    """A tenant's fresh events of one fetch: the common case (an in-app row without a group key,
    and its mail) for all of them in two statements (``claim_and_insert_many``,
    ``add_deliveries``); bursts, mail-only intents and digests take ``apply`` one by one. Same
    outcome as ``handle`` per event, in the consumer's one transaction."""
    rows: list[_Row] = []
    for event in events:
        ctx.pushed.pop(event.id, None)  # a retry starts afresh
        if (event.service, event.entity, event.action) == ("workflows", "digest", "daily"):
            await send_digests(unit, event, ctx)
            continue
        make = HANDLERS.get((event.service, event.entity, event.action))
        for intent in make(event) if make is not None else ():
            if intent.user_id is None or intent.group_key:
                await apply(unit, event, intent, ctx)
                continue
            who = await recipient(ctx, unit.tenant_id, intent.user_id)
            if who is None:
                continue
            user_pref, tenant_pref = await preferences_of(unit, intent.user_id)
            choice = prefs.choose(intent.type, user_pref, tenant_pref, datetime.now(UTC), intent.channels)
            if not choice.in_app:
                await apply(unit, event, intent, ctx)
                continue
            params = visible_params(intent, who)
            params.setdefault("count", 1)
            rows.append(_Row(event, intent, intent.user_id, who, params, choice))
    if not rows:
        return
    inserted = set(await store.claim_and_insert_many(unit, [
        (r.event.id, r.notification_id, r.user_id, r.intent.type, _JSON.encode(r.params).decode(),
         r.intent.link[0] if r.intent.link else None, r.intent.link[1] if r.intent.link else None) for r in rows]))
    mails: list[tuple[uuid.UUID | None, uuid.UUID | None, str, str, str, str, str, datetime | None]] = []
    rendered: dict[tuple[Any, ...], tuple[str, str]] = {}  # a fan-out's recipients often share one text
    for r in rows:
        if r.notification_id not in inserted:
            continue  # this event told this person of this type already
        ctx.pushed.setdefault(r.event.id, set()).add((unit.tenant_id, r.user_id))
        address = r.intent.address or r.who.data.email
        if not (r.choice.email and address) or r.intent.sealed is not None:
            if r.choice.email and address:
                await _add_mail(unit, r.event, r.intent, r.who, r.params, r.notification_id, address, r.choice, ctx)
            continue
        locale = r.who.data.locale or r.intent.locale or DEFAULT_LOCALE
        tenant_name = r.who.data.tenant_name
        key = (r.intent.type, locale, tenant_name, r.intent.link, _JSON.encode(r.params))
        if (made := rendered.get(key)) is None:
            content = render_mail(r.intent.type, {**r.params, "tenant_name": tenant_name}, locale,
                                  tenant_name=tenant_name, link=record_url(ctx.public_url, r.intent.link))
            made = rendered[key] = (locale, _JSON.encode(content).decode())
        mails.append((r.notification_id, r.user_id, address, r.intent.type, made[0], made[1],
                      "digest" if r.choice.digest else "pending", r.choice.quiet_until))
    await store.add_deliveries(unit, mails)


_JSON = msgspec.json.Encoder(order="sorted")


async def apply(unit: Unit, event: Event, intent: Intent, ctx: Context) -> None:
    kind = BY_KEY[intent.type]
    who: Principal | None = None
    if intent.user_id is not None:
        who = await recipient(ctx, unit.tenant_id, intent.user_id)
        if who is None:
            return
    elif kind.inbox:
        return
    # A mail-only intent (an invitation) has no user: its key is the address, stable per event.
    key_user = intent.user_id or uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{(intent.address or '').lower()}")
    notification_id = uuid.uuid4()
    params = visible_params(intent, who)
    params.setdefault("count", 1)
    user_pref, tenant_pref = await preferences_of(unit, intent.user_id)
    choice = prefs.choose(intent.type, user_pref, tenant_pref, datetime.now(UTC), intent.channels)
    in_app_id: uuid.UUID | None = None
    grown = False
    if choice.in_app and intent.user_id is not None and not intent.group_key:
        # The common case in one round trip: claim the source and add the row.
        if not await store.claim_and_insert(unit, event.id, notification_id, user_id=intent.user_id,
                                            type_key=intent.type, params=params, link=intent.link):
            return  # this event told this person of this type already
        in_app_id = notification_id
        ctx.pushed.setdefault(event.id, set()).add((unit.tenant_id, intent.user_id))
    else:
        if not await store.claim_source(unit, event.id, key_user, intent.type, notification_id):
            return  # this event told this person of this type already
        if choice.in_app and intent.user_id is not None:
            # The user's stream lock first: two replicas handling one burst still make one row.
            seq = await store.next_seq(unit, intent.user_id)
            existing = await store.collapsible(unit, intent.user_id, intent.type, intent.group_key or "",
                                               COLLAPSE_SECONDS)
            if existing is not None:
                in_app_id, grown = existing["id"], True
                await store.grow(unit, in_app_id, seq)
                await store.repoint_source(unit, event.id, key_user, intent.type, in_app_id)
            else:
                in_app_id = notification_id
                await store.insert(unit, in_app_id, user_id=intent.user_id, type_key=intent.type, params=params,
                                   link=intent.link, group_key=intent.group_key, seq=seq)
            ctx.pushed.setdefault(event.id, set()).add((unit.tenant_id, intent.user_id))
    address = intent.address or (who.data.email if who is not None else None)
    if choice.email and address and not grown:
        await _add_mail(unit, event, intent, who, params, in_app_id, address, choice, ctx)


async def _add_mail(unit: Unit, event: Event, intent: Intent, who: Principal | None, params: dict[str, Any],
                    notification_id: uuid.UUID | None, address: str, choice: prefs.Choice, ctx: Context) -> None:
    locale = (who.data.locale if who is not None and who.data.locale else None) or intent.locale or DEFAULT_LOCALE
    tenant_name = who.data.tenant_name if who is not None else ""
    if not tenant_name and intent.type == "invitation":
        inviter = await recipient(ctx, unit.tenant_id, uuid.UUID(str(event.data.get("invited_by")))) \
            if event.data.get("invited_by") else None
        tenant_name = inviter.data.tenant_name if inviter is not None else ""
    mail_params = {**params, "tenant_name": tenant_name}
    if intent.sealed is not None:
        mail_params["link"] = LINK_PLACEHOLDER
        content: dict[str, Any] = render_mail(intent.type, mail_params, locale, tenant_name=tenant_name, link=None)
        # Still sealed in our table; opened only by the sender, and dropped once the mail is out.
        content["sealed"] = {**intent.sealed, "context": f"{unit.tenant_id}:{intent.sealed['entity']}:{event.entity_id}"}
    else:
        content = render_mail(intent.type, mail_params, locale, tenant_name=tenant_name,
                              link=record_url(ctx.public_url, intent.link))
    await store.add_delivery(
        unit, notification_id=notification_id, user_id=intent.user_id, address=address, type_key=intent.type,
        locale=locale, content=content, status="digest" if choice.digest else "pending", due_at=choice.quiet_until)


async def send_digests(unit: Unit, event: Event, ctx: Context) -> None:
    """``digest.daily``: each named user's held mail goes out as one message."""
    from services.notifications.domain.sources import _uuids

    for user_id in _uuids(event.data.get("user_id"), event.data.get("user_ids")):
        who = await recipient(ctx, unit.tenant_id, user_id)
        held = await store.held_for_digest(unit, user_id)
        if who is None or not held:
            continue
        lines = "\n".join(f"• {row['content'].get('subject', '')}" for row in held)
        locale = who.data.locale or DEFAULT_LOCALE
        content = render_mail("digest.daily", {"count": len(held), "lines": lines}, locale,
                              tenant_name=who.data.tenant_name, link=ctx.public_url or None)
        digest_id = await store.add_delivery(unit, notification_id=None, user_id=user_id, address=who.data.email,
                                             type_key="digest.daily", locale=locale, content=content,
                                             status="pending", due_at=None)
        if digest_id is not None:  # else the address is suppressed: the held mail stays held
            await store.mark_digested(unit, [row["id"] for row in held], digest_id)
