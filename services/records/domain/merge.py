"""Merging customers: ``POST /customers/{id}/merge`` ``{"merge_ids": [...], "fields": {...}}``.

* ``{id}`` survives. ``fields`` maps a field (``name``, ``phone``, ``custom_fields.<key>`` ...) to
  the id of the record whose value survives. Without a choice the survivor keeps its value, or
  takes the first merged record's when its own is empty; lists (``aliases``, ``tags``, ``phones``,
  ``emails``) are joined, and the merged records' names become aliases (so they are still found).
* Every contact, interaction, objection, task and opportunity of the merged records (soft-deleted
  ones too) moves to the survivor, with its field history and stage history; each moved one gets
  a new version, a ``customer_id`` history row and its own ``<entity>.updated`` event (so search
  finds it under the survivor). The survivor's ``last_interaction_at`` / ``next_follow_up_at``
  are recomputed from the interactions it now has (``domain/interactions.py``); undo does the same
  the other way.
* Contacts that are the same person (the same name, ignoring width, case and spaces, and a
  shared phone or e-mail) are merged too once they all belong to the survivor: the richest one
  (most fields filled, then the oldest) stays and takes the others' phones, e-mails and the
  fields it lacks; the others are soft-deleted (``contact.deleted`` with ``merged_into``). Each
  change writes field history and events; undo puts them back.
* Merged records are soft-deleted with ``merged_into``: reading one answers the survivor, the
  duplicate finder reports them as ``merged``.
* The merge is in field history (survivor's changes), the audit log (``customer.merged``) and
  events (``customer.merged``: for the survivor with ``merged_ids``, for each merged record with
  ``merged_into``), and ``POST /merges/{merge_id}/undo`` reverses it within 30 days.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from services.records.db import attachments as attachments_store
from services.records.db import contacts as contacts_store
from services.records.db import customers as customers_store
from services.records.db import ownership as ownership_store
from services.records.db.custom_fields import release_unique
from services.records.domain import contacts as contacts_domain
from services.records.domain import custom_fields, duplicates, history, interactions, locks, ownership
from services.records.domain import customers as customers_domain
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from shared.db import Unit
from shared.errors import Conflict, FieldError, NotFound, ValidationProblem

ENTITY = "customer"
MAX_MERGE = 10
UNDO_DAYS = 30
CHILDREN = {"contact": "contacts", "interaction": "interactions", "objection": "objections", "task": "tasks",
            "opportunity": "opportunities"}
# Field -> columns it stands for. Lists are joined unless a record is chosen.
SCALARS = ("name", "kind", "uscc", "website", "industry", "address", "source", "lifecycle_stage", "tier",
           "next_follow_up_at")
LISTS = ("aliases", "tags")
POINTS = {"phones": "primary_phone", "emails": "primary_email"}
_TWINS = {"phone": "phones", "email": "emails"}
# Survivor columns a merge may change and an undo puts back.
RESTORED = (*SCALARS, *LISTS, *POINTS, *POINTS.values(), "custom_fields")


class MergeBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    merge_ids: list[uuid.UUID]
    fields: dict[str, uuid.UUID] = {}


def _empty(value: Any) -> bool:
    return value in (None, "", [], {})


def _join_points(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Phones or e-mails of several records: the survivor's primary stays primary, no value twice."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for points in lists:
        for point in points:
            if point["value"] not in seen:
                seen.add(point["value"])
                out.append({**point, "primary": not out})
    return out


def _check(body: MergeBody, survivor_id: uuid.UUID, custom_keys: set[str]) -> list[uuid.UUID]:
    errors: list[FieldError] = []
    ids = list(dict.fromkeys(body.merge_ids))
    if not ids:
        errors.append(FieldError("merge_ids", "name at least one customer to merge", "empty"))
    if len(ids) > MAX_MERGE:
        errors.append(FieldError("merge_ids", f"at most {MAX_MERGE} customers at once", "too_many"))
    if survivor_id in ids:
        errors.append(FieldError("merge_ids", "cannot merge a customer with itself", "self_merge"))
    allowed = {survivor_id, *ids}
    for field, source in body.fields.items():
        base, _, key = field.partition(".")
        base = _TWINS.get(base, base)
        known = (base in SCALARS or base in LISTS or base in POINTS) and not key or (
            base == "custom_fields" and key in custom_keys)
        if not known:
            errors.append(FieldError(f"fields.{field}", "is not a field of customer that a merge can choose", "unknown_field"))
        elif source not in allowed:
            errors.append(FieldError(f"fields.{field}", "must be the id of the survivor or of a merged customer",
                                     "not_in_merge"))
    if errors:
        raise ValidationProblem(errors)
    return ids


def _merged_values(survivor: asyncpg.Record, others: list[asyncpg.Record], choices: dict[str, uuid.UUID],
                   by_id: dict[uuid.UUID, asyncpg.Record]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(columns to set on the survivor, its custom_fields after the merge)."""
    chosen = {(_TWINS.get(f.partition(".")[0], f.partition(".")[0]) + ("." + f.partition(".")[2] if "." in f else "")): s
              for f, s in choices.items()}
    records = [survivor, *others]
    cols: dict[str, Any] = {}
    for field in SCALARS:
        if field in chosen:
            cols[field] = by_id[chosen[field]][field]
        elif _empty(survivor[field]):
            cols[field] = next((r[field] for r in others if not _empty(r[field])), survivor[field])
    for field in LISTS:
        if field in chosen:
            cols[field] = list(by_id[chosen[field]][field])
        else:
            joined = [v for r in records for v in r[field]]
            if field == "aliases":
                name = cols.get("name", survivor["name"])
                joined += [r["name"] for r in records if r["name"] != name]
                joined = [a for a in joined if a != name]
            cols[field] = list(dict.fromkeys(joined))
    for field, primary in POINTS.items():
        points = list(by_id[chosen[field]][field]) if field in chosen else _join_points([list(r[field]) for r in records])
        cols[field] = points
        cols[primary] = next((p["value"] for p in points if p.get("primary")), None)
    custom = dict(survivor["custom_fields"])
    for record in others:
        for key, value in record["custom_fields"].items():
            if _empty(custom.get(key)):
                custom[key] = value
    for field, source in chosen.items():
        if field.startswith("custom_fields."):
            key = field.split(".", 1)[1]
            value = by_id[source]["custom_fields"].get(key)
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
    return {k: v for k, v in cols.items() if v != survivor[k]}, custom


async def merge(unit: Unit, access: RecordAccess, survivor_id: uuid.UUID, body: MergeBody) -> dict[str, Any]:
    access.require(ENTITY, "merge")
    defs = await custom_fields.definitions(unit, ENTITY)
    ids = _check(body, survivor_id, {d.key for d in defs})
    access.check_writable(ENTITY, list(body.fields))
    locked = {r["id"]: r for r in await ownership_store.lock_customers(unit, [survivor_id, *ids])}
    survivor = locked.get(survivor_id)
    if survivor is None or survivor["deleted_at"] is not None or not access.visible(ENTITY, survivor):
        raise NotFound(f"No customer {survivor_id}", kind="customer-not-found")
    errors = [FieldError(f"merge_ids[{i}]", f"no such customer: {cid}", "unknown_customer")
              for i, cid in enumerate(ids)
              if locked.get(cid) is None or locked[cid]["deleted_at"] is not None or not access.visible(ENTITY, locked[cid])]
    if errors:
        raise ValidationProblem(errors)
    others = [locked[cid] for cid in ids]
    cols, custom = _merged_values(survivor, others, body.fields, locked)
    # Guarded fields: the survivor's that the merge changes, and every field of a merged customer
    # (it is gone after the merge), answer 409 naming the pending approval.
    own_custom = dict(survivor["custom_fields"])
    changed = [*cols, *(f"custom_fields.{k}" for k in {*custom, *own_custom} if custom.get(k) != own_custom.get(k))]
    await locks.check(unit, ENTITY, survivor_id, changed)
    await locks.check_all(unit, ENTITY, ids, locks.EVERY_FIELD)
    before = customers_domain.record_of(survivor)
    moved, moved_rows = await _move_children(unit, ids, survivor, access.user_id)
    # The merged records' unique custom values pass to the survivor.
    await release_unique(unit, ENTITY, ids)
    custom_clear = [k for k in survivor["custom_fields"] if k not in custom]
    row = await customers_store.update(unit, survivor_id, cols, custom_set=custom, custom_clear=custom_clear,
                                       user_id=access.user_id)
    await custom_fields.claim_unique_values(unit, defs, ENTITY, survivor_id, custom)
    merged_rows = await unit.fetch(
        f"""UPDATE records.customers SET deleted_at = now(), merged_into = $3, version = version + 1,
                   updated_at = now(), updated_by = $4
            WHERE tenant_id = $1 AND id = ANY($2::uuid[]) RETURNING {customers_store.COLUMNS}""",
        unit.tenant_id, ids, survivor_id, access.user_id)
    cfg = await settings_domain.get(unit)
    await duplicates.store_keys(unit, ENTITY, customers_domain.record_of(row), cfg.default_region)
    merge_id = uuid.uuid4()
    twins = await _merge_twin_contacts(unit, access, survivor_id, merge_id, cfg)
    await unit.execute(
        """INSERT INTO records.merges (tenant_id, id, survivor_id, merged_ids, survivor_before, fields, moved, merged_by,
                                       contact_merges)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        unit.tenant_id, merge_id, survivor_id, ids, history.jsonable({k: survivor[k] for k in RESTORED}),
        history.jsonable(body.fields), moved, access.user_id, history.jsonable(twins))
    counts = {entity: sum(len(v) for v in per.values()) for entity, per in moved.items()}
    contacts_merged = [{"kept": t["kept"], "merged": t["merged"]} for t in twins]
    await history.publish(unit, ENTITY, "merged", customers_domain.record_of(row), actor=access.actor, settings=cfg,
                          changes=history.diff(before, customers_domain.record_of(row)), customer_id=survivor_id,
                          extra={"merge_id": merge_id, "merged_ids": ids, "moved": counts,
                                 "contacts_merged": contacts_merged})
    for merged in merged_rows:
        await history.publish(unit, ENTITY, "merged", customers_domain.record_of(merged), actor=access.actor,
                              settings=cfg, customer_id=merged["id"],
                              changes={"merged_into": {"old": None, "new": str(survivor_id)}},
                              extra={"merge_id": merge_id, "merged_into": survivor_id})
    await _publish_children(unit, moved_rows, access, cfg)
    # The survivor's interaction fields now count the moved interactions (an explicit choice of
    # next_follow_up_at stands).
    refreshed = await interactions.refresh_customers(unit, [survivor_id], actor=access.actor, settings=cfg,
                                                     follow_up="next_follow_up_at" not in body.fields)
    row = refreshed[0] if refreshed else row
    await history.audit(unit, "customer.merged", ENTITY, survivor_id, actor=access.actor,
                        details={"merge_id": merge_id, "merged_ids": ids, "fields": body.fields, "moved": counts})
    return {"merge_id": merge_id, "customer": customers_domain.out(access, row), "merged_ids": ids, "moved": counts,
            "contacts_merged": contacts_merged, "undo_until": datetime.now(UTC) + timedelta(days=UNDO_DAYS)}


async def _move_children(unit: Unit, ids: list[uuid.UUID], survivor: asyncpg.Record,
                         user_id: uuid.UUID) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[asyncpg.Record]]]:
    """Every child of the merged records moves to the survivor (contacts also take its owner):
    ({entity: {old customer: [child ids]}}, {entity: moved rows})."""
    moved: dict[str, dict[str, list[str]]] = {}
    rows_of: dict[str, list[asyncpg.Record]] = {}
    for entity in CHILDREN:
        follow = ", owner_id = $5, department_id = $6" if entity == "contact" else ""
        rows = await ownership_store.move_rows(
            unit, entity, sets=f"customer_id = $4{follow}", where="y.customer_id = ANY($3::uuid[])",
            args=[ids, survivor["id"], *((survivor["owner_id"], survivor["department_id"]) if follow else ())],
            user_id=user_id)
        per: dict[str, list[str]] = {}
        for r in rows:
            per.setdefault(str(r["old_customer_id"]), []).append(str(r["id"]))
        moved[entity] = per
        rows_of[entity] = rows
    await unit.execute(
        "UPDATE records.opportunity_stage_history SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])",
        unit.tenant_id, ids, survivor["id"])
    await unit.execute(
        """UPDATE records.field_history SET customer_id = $3
           WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND entity <> 'customer'""",
        unit.tenant_id, ids, survivor["id"])
    await attachments_store.follow_children(unit, ids, survivor["id"])  # the timeline reads them by customer
    return moved, rows_of


async def _publish_children(unit: Unit, rows_of: dict[str, list[asyncpg.Record]], access: RecordAccess,
                            cfg: settings_domain.RecordsSettings) -> None:
    for entity, rows in rows_of.items():
        await ownership.publish_moved(unit, entity, rows, actor=access.actor, settings=cfg)


# Contact columns a twin merge may change on the contact that stays (and an undo puts back).
_CONTACT_KEPT = ("title", "role_in_deal", "phones", "emails", "primary_phone", "primary_email", "custom_fields")


def _person_key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def _points(row: Any) -> set[str]:
    return {f"phone:{p['value']}" for p in row["phones"]} | {f"email:{p['value']}" for p in row["emails"]}


def _richness(row: Any) -> tuple[int, Any, uuid.UUID]:
    filled = sum(not _empty(row[c]) for c in ("title", "role_in_deal")) + len(row["phones"]) + len(row["emails"]) + \
        sum(not _empty(v) for v in row["custom_fields"].values())
    return (-filled, row["created_at"], row["id"])


def twin_groups(rows: list[Any]) -> list[list[Any]]:
    """Contacts that are one person: the same normalised name and a shared phone or e-mail
    (joined transitively), the richest first; only groups of two or more."""
    parent = {r["id"]: r["id"] for r in rows}

    def find(x: uuid.UUID) -> uuid.UUID:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_name: dict[str, list[Any]] = {}
    for row in rows:
        by_name.setdefault(_person_key(row["name"]), []).append(row)
    for same in by_name.values():
        for i, a in enumerate(same):
            for b in same[i + 1:]:
                if _points(a) & _points(b):
                    parent[find(a["id"])] = find(b["id"])
    groups: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        groups.setdefault(find(row["id"]), []).append(row)
    return [sorted(g, key=_richness) for g in groups.values() if len(g) > 1]


async def _merge_twin_contacts(unit: Unit, access: RecordAccess, survivor_id: uuid.UUID, merge_id: uuid.UUID,
                               cfg: settings_domain.RecordsSettings) -> list[dict[str, Any]]:
    """Merge the survivor's contacts that are one person (``twin_groups``); answers what was done
    for the undo: ``[{"kept", "before" (its columns), "merged" (ids)}]``."""
    rows = await unit.fetch(
        f"""SELECT {contacts_store.COLUMNS} FROM records.contacts
            WHERE tenant_id = $1 AND customer_id = $2 AND deleted_at IS NULL ORDER BY created_at, id FOR UPDATE""",
        unit.tenant_id, survivor_id)
    done: list[dict[str, Any]] = []
    for group in twin_groups(list(rows)):
        keeper, others = group[0], group[1:]
        cols: dict[str, Any] = {}
        for field in ("title", "role_in_deal"):
            if _empty(keeper[field]):
                cols[field] = next((o[field] for o in others if not _empty(o[field])), keeper[field])
        for field, primary in POINTS.items():
            cols[field] = _join_points([list(r[field]) for r in group])
            cols[primary] = next((p["value"] for p in cols[field] if p.get("primary")), None)
        custom = {k: v for o in reversed(others) for k, v in o["custom_fields"].items() if not _empty(v)}
        custom = {k: v for k, v in custom.items() if _empty(keeper["custom_fields"].get(k))}
        changed = {k: v for k, v in cols.items() if v != keeper[k]}
        after = await contacts_store.update(unit, keeper["id"], changed, custom_set=custom, custom_clear=[],
                                            user_id=access.user_id)
        await duplicates.store_keys(unit, "contact", contacts_domain.record_of(after), cfg.default_region)
        await history.publish(unit, "contact", "updated", contacts_domain.record_of(after), actor=access.actor,
                              settings=cfg, customer_id=survivor_id,
                              changes=history.diff(contacts_domain.record_of(keeper), contacts_domain.record_of(after)),
                              extra={"merge_id": merge_id, "merged_contact_ids": [o["id"] for o in others]})
        for other in others:
            gone = await contacts_store.set_deleted(unit, other["id"], deleted=True, user_id=access.user_id)
            await history.publish(unit, "contact", "deleted", contacts_domain.record_of(gone), actor=access.actor,
                                  settings=cfg, customer_id=survivor_id,
                                  changes={"deleted_at": {"old": None, "new": history.jsonable(gone["deleted_at"])}},
                                  extra={"merge_id": merge_id, "merged_into": keeper["id"]})
        done.append({"kept": keeper["id"], "before": {c: keeper[c] for c in _CONTACT_KEPT},
                     "merged": [o["id"] for o in others]})
    return done


async def _unmerge_twin_contacts(unit: Unit, access: RecordAccess, twins: list[dict[str, Any]],
                                 cfg: settings_domain.RecordsSettings) -> None:
    """Undo ``_merge_twin_contacts``: the merged contacts come back, the kept one's merged columns
    return to their values before the merge."""
    for twin in twins:
        kept = uuid.UUID(twin["kept"])
        current = await contacts_store.get(unit, kept, for_update=True)
        if current is not None:
            before = twin["before"]
            cols = {c: before[c] for c in _CONTACT_KEPT if c != "custom_fields"}
            row = await contacts_store.update(
                unit, kept, cols, custom_set=before["custom_fields"],
                custom_clear=[k for k in current["custom_fields"] if k not in before["custom_fields"]],
                user_id=access.user_id)
            await duplicates.store_keys(unit, "contact", contacts_domain.record_of(row), cfg.default_region)
            await history.publish(unit, "contact", "updated", contacts_domain.record_of(row), actor=access.actor,
                                  settings=cfg, customer_id=row["customer_id"],
                                  changes=history.diff(contacts_domain.record_of(current), contacts_domain.record_of(row)))
        for merged in twin["merged"]:
            gone = await contacts_store.get(unit, uuid.UUID(merged), deleted=True, for_update=True)
            if gone is None:  # restored by hand meanwhile
                continue
            back = await contacts_store.set_deleted(unit, gone["id"], deleted=False, user_id=access.user_id)
            await history.publish(unit, "contact", "restored", contacts_domain.record_of(back), actor=access.actor,
                                  settings=cfg, customer_id=back["customer_id"],
                                  changes={"deleted_at": {"old": history.jsonable(gone["deleted_at"]), "new": None}})


async def undo(unit: Unit, access: RecordAccess, merge_id: uuid.UUID) -> dict[str, Any]:
    """Reverse a merge within 30 days: the merged records come back with their children, the
    survivor's merged fields return to their values before the merge."""
    access.require(ENTITY, "merge")
    done = await unit.fetchrow(
        """SELECT id, survivor_id, merged_ids, survivor_before, moved, merged_at, undone_at, contact_merges
           FROM records.merges WHERE tenant_id = $1 AND id = $2 FOR UPDATE""", unit.tenant_id, merge_id)
    if done is None:
        raise NotFound(f"No merge {merge_id}", kind="merge-not-found")
    survivor = await customers_domain.get_visible(unit, access, done["survivor_id"], for_update=True)
    if done["undone_at"] is not None:
        raise Conflict("This merge was undone already", kind="merge-undone")
    if done["merged_at"] < datetime.now(UTC) - timedelta(days=UNDO_DAYS):
        raise Conflict(f"A merge can be undone within {UNDO_DAYS} days only", kind="merge-too-old")
    ids = list(done["merged_ids"])
    present = await ownership_store.lock_customers(unit, ids)
    if len(present) != len(ids) or any(r["merged_into"] != done["survivor_id"] for r in present):
        raise Conflict("A merged customer is gone or was changed since; the merge cannot be undone",
                       kind="merge-not-undoable")
    snapshot = done["survivor_before"]
    cols = {c: snapshot[c] for c in RESTORED if c != "custom_fields"}
    if cols.get("next_follow_up_at"):
        cols["next_follow_up_at"] = datetime.fromisoformat(cols["next_follow_up_at"])
    before = customers_domain.record_of(survivor)
    # The contacts merged as one person come back first, so they move home with the others.
    await _unmerge_twin_contacts(unit, access, list(done["contact_merges"]), await settings_domain.get(unit))
    row = await customers_store.update(
        unit, survivor["id"], cols, custom_set=snapshot["custom_fields"],
        custom_clear=[k for k in survivor["custom_fields"] if k not in snapshot["custom_fields"]],
        user_id=access.user_id)
    owners = {r["id"]: r for r in present}
    moved_back: dict[str, list[asyncpg.Record]] = {}
    for entity, per in done["moved"].items():
        for old, child_ids in per.items():
            home = owners[uuid.UUID(old)]
            follow = ", owner_id = $5, department_id = $6" if entity == "contact" else ""
            moved_back.setdefault(entity, []).extend(await ownership_store.move_rows(
                unit, entity, sets=f"customer_id = $4{follow}", where="y.id = ANY($3::uuid[])",
                args=[[uuid.UUID(i) for i in child_ids], home["id"],
                      *((home["owner_id"], home["department_id"]) if follow else ())],
                user_id=access.user_id))
            await unit.execute(
                "UPDATE records.field_history SET customer_id = $2 WHERE tenant_id = $1 AND entity = $4 AND record_id = ANY($3::uuid[])",
                unit.tenant_id, uuid.UUID(old), [uuid.UUID(i) for i in child_ids], entity)
            await attachments_store.follow_moved_back(unit, entity, [uuid.UUID(i) for i in child_ids], uuid.UUID(old))
            if entity == "opportunity":
                await unit.execute(
                    """UPDATE records.opportunity_stage_history SET customer_id = $2
                       WHERE tenant_id = $1 AND opportunity_id = ANY($3::uuid[])""",
                    unit.tenant_id, uuid.UUID(old), [uuid.UUID(i) for i in child_ids])
    restored = await unit.fetch(
        f"""UPDATE records.customers SET deleted_at = NULL, merged_into = NULL, version = version + 1,
                   updated_at = now(), updated_by = $3
            WHERE tenant_id = $1 AND id = ANY($2::uuid[]) RETURNING {customers_store.COLUMNS}""",
        unit.tenant_id, ids, access.user_id)
    defs = await custom_fields.definitions(unit, ENTITY)
    await release_unique(unit, ENTITY, [survivor["id"], *ids])
    for record in [row, *restored]:
        await custom_fields.claim_unique_values(unit, defs, ENTITY, record["id"], dict(record["custom_fields"]))
    cfg = await settings_domain.get(unit)
    await duplicates.store_keys(unit, ENTITY, customers_domain.record_of(row), cfg.default_region)
    await unit.execute("UPDATE records.merges SET undone_at = now(), undone_by = $3 WHERE tenant_id = $1 AND id = $2",
                       unit.tenant_id, merge_id, access.user_id)
    await history.publish(unit, ENTITY, "merge_undone", customers_domain.record_of(row), actor=access.actor,
                          settings=cfg, changes=history.diff(before, customers_domain.record_of(row)),
                          customer_id=row["id"], extra={"merge_id": merge_id, "merged_ids": ids})
    for record in restored:
        await history.publish(unit, ENTITY, "restored", customers_domain.record_of(record), actor=access.actor,
                              settings=cfg, customer_id=record["id"],
                              changes={"merged_into": {"old": str(row["id"]), "new": None}},
                              extra={"merge_id": merge_id})
    await _publish_children(unit, moved_back, access, cfg)
    refreshed = {r["id"]: r for r in await interactions.refresh_customers(
        unit, [row["id"], *ids], actor=access.actor, settings=cfg)}
    row = refreshed.get(row["id"], row)
    await history.audit(unit, "customer.merge_undone", ENTITY, row["id"], actor=access.actor,
                        details={"merge_id": merge_id, "merged_ids": ids})
    return {"merge_id": merge_id, "customer": customers_domain.out(access, row),
            "restored_ids": [r["id"] for r in restored]}

