"""Roles, permissions and the effective permissions of a user.

A role grants, per entity, a set of actions (read, create, update, delete, export, import, merge,
transfer) and a data scope: ``own`` (records the user owns), ``department`` (records owned by
anyone in the user's department and the departments below it) or ``all`` (the whole tenant). The
entity ``*`` stands for every entity. A role may also restrict single fields of an entity as
``hidden`` or ``read_only``.

Default roles, made for every new tenant (CRM = customer, contact, interaction, objection, task,
opportunity):

* ``admin``     every action on every entity (``*``), scope all. Built in: it can be renamed but
                never deleted nor have its permissions changed, so a tenant always has a way in.
* ``manager``   every action on the CRM entities, scope department; manages pipelines; reads
                reports (department), users, departments, roles, custom fields and the tenant;
                manages their own API keys.
* ``sales``     read, create, update on the CRM entities, scope own (export, delete, merge and
                transfer are for managers); reads reports (own), users, departments, pipelines
                and custom fields; manages their own API keys.
* ``support``   read customers and contacts, read and create interactions, read/create/update
                objections, all scope all (support must see every customer who complains);
                read/create/update their own tasks; no opportunities.
* ``read_only`` read the CRM entities, scope all; read users and departments.

No default role has field rules; tenants add them for sensitive fields (e.g. hide
``customer.phone`` from support).

Effective permissions of a user are the union of their roles: actions are unioned, the widest
scope wins, and a role's ``*`` grant counts for every entity. A field is restricted only if every
role that grants ``read`` on that entity restricts it (a role that grants read without a rule
means the user may see it); when all do, ``read_only`` wins over ``hidden`` (the least restrictive
of the restrictions).

Identity's own entities use the scope like this: ``api_key`` own = the user's own keys, all = every
key of the tenant; ``user``, ``department``, ``role`` and ``audit_log`` ignore the scope (the user
directory is tenant-wide).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.auth import ACTIONS, DATA_SCOPES, EntityGrant, Permissions, Principal
from shared.errors import FieldError, Forbidden, ValidationProblem

CRM_ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")
IDENTITY_ENTITIES = ("user", "role", "department", "api_key", "audit_log", "tenant")
# Entities of services still to come; listed so roles can already grant them. Add new ones here.
OTHER_ENTITIES = ("pipeline", "custom_field", "tag", "workflow", "webhook", "report", "notification")
KNOWN_ENTITIES = frozenset((*CRM_ENTITIES, *IDENTITY_ENTITIES, *OTHER_ENTITIES))
FIELD_RULES = ("hidden", "read_only")
_SCOPE_RANK = {scope: rank for rank, scope in enumerate(DATA_SCOPES)}  # own < department < all
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

ADMIN = "admin"
ALL_ACTIONS = list(ACTIONS)
_RCU = ["read", "create", "update"]


def _grants(entities: Iterable[str], actions: list[str], scope: str) -> dict[str, dict[str, Any]]:
    return {entity: {"actions": list(actions), "scope": scope} for entity in entities}


DEFAULT_ROLES: dict[str, dict[str, Any]] = {
    "admin": {
        "name": "Administrator",
        "description": "Everything, including users, roles, API keys, the audit log and the tenant",
        "permissions": _grants(["*"], ALL_ACTIONS, "all"),
    },
    "manager": {
        "name": "Manager",
        "description": "All CRM work of their department and the departments below it",
        "permissions": {
            **_grants(CRM_ENTITIES, ALL_ACTIONS, "department"),
            **_grants(["pipeline"], ["read", "create", "update", "delete"], "all"),
            **_grants(["report"], ["read"], "department"),
            **_grants(["user", "department", "role", "tenant", "custom_field"], ["read"], "all"),
            **_grants(["api_key"], ["read", "create", "delete"], "own"),
        },
    },
    "sales": {
        "name": "Sales",
        "description": "Their own customers, contacts, interactions, objections, tasks and opportunities",
        "permissions": {
            **_grants(CRM_ENTITIES, _RCU, "own"),
            **_grants(["report"], ["read"], "own"),
            **_grants(["user", "department", "pipeline", "custom_field"], ["read"], "all"),
            **_grants(["api_key"], ["read", "create", "delete"], "own"),
        },
    },
    "support": {
        "name": "Support",
        "description": "Handles objections and complaints of every customer",
        "permissions": {
            **_grants(["customer", "contact"], ["read"], "all"),
            **_grants(["interaction"], ["read", "create"], "all"),
            **_grants(["objection"], _RCU, "all"),
            **_grants(["task"], _RCU, "own"),
            **_grants(["report"], ["read"], "all"),
            **_grants(["user", "department", "custom_field"], ["read"], "all"),
        },
    },
    "read_only": {
        "name": "Read only",
        "description": "Reads the CRM records of the whole tenant, changes nothing",
        "permissions": {
            **_grants(CRM_ENTITIES, ["read"], "all"),
            **_grants(["user", "department", "pipeline", "report", "custom_field"], ["read"], "all"),
        },
    },
}
DEFAULT_INVITED_ROLE = "read_only"  # least privilege when an invitation names no role


# --- validation of what a client sends ------------------------------------------------------------


def validate_permissions(permissions: Mapping[str, Any], field: str = "permissions") -> dict[str, dict[str, Any]]:
    """Check entity names, actions and scopes; return the normalised form, or raise 422."""
    errors: list[FieldError] = []
    clean: dict[str, dict[str, Any]] = {}
    for entity, grant in permissions.items():
        where = f"{field}.{entity}"
        if entity != "*" and entity not in KNOWN_ENTITIES:
            known = ", ".join(sorted(KNOWN_ENTITIES))
            errors.append(FieldError(where, f"unknown entity '{entity}'; known: {known}", "unknown_entity"))
            continue
        actions: list[str] = list(grant.get("actions", []))
        scope: str = grant.get("scope", "own")
        for index, action in enumerate(actions):
            if action not in ACTIONS and action != "*":
                message = f"unknown action '{action}'; use one of {', '.join(ACTIONS)}"
                errors.append(FieldError(f"{where}.actions[{index}]", message, "unknown_action"))
        if scope not in DATA_SCOPES:
            errors.append(FieldError(f"{where}.scope", f"unknown scope '{scope}'; use one of {', '.join(DATA_SCOPES)}",
                                     "unknown_scope"))
        expanded = ALL_ACTIONS if "*" in actions else [a for a in ACTIONS if a in actions]
        clean[entity] = {"actions": expanded, "scope": scope}
    if errors:
        raise ValidationProblem(errors)
    return clean


def validate_field_rules(
    rules: Mapping[str, Mapping[str, str]], field: str = "field_rules"
) -> dict[str, dict[str, str]]:
    errors: list[FieldError] = []
    for entity, fields in rules.items():
        if entity not in KNOWN_ENTITIES:
            errors.append(FieldError(f"{field}.{entity}", f"unknown entity '{entity}'", "unknown_entity"))
            continue
        for name, rule in fields.items():
            if not _FIELD_NAME.match(name):
                errors.append(FieldError(f"{field}.{entity}.{name}", "is not a field name (lower_snake_case)",
                                         "invalid"))
            elif rule not in FIELD_RULES:
                errors.append(FieldError(f"{field}.{entity}.{name}", f"unknown rule '{rule}'; use hidden or read_only",
                                         "unknown_rule"))
    if errors:
        raise ValidationProblem(errors)
    return {entity: dict(fields) for entity, fields in rules.items() if fields}


def validate_scopes(scopes: list[str], field: str = "scopes") -> list[str]:
    """API key scopes: ``*``, ``<entity>:<action>``, ``<entity>:*`` or ``*:<action>``."""
    errors: list[FieldError] = []
    for index, scope in enumerate(scopes):
        if scope == "*":
            continue
        entity, sep, action = scope.partition(":")
        entity_ok = entity == "*" or entity in KNOWN_ENTITIES
        action_ok = action == "*" or action in ACTIONS
        if not sep or not entity_ok or not action_ok or scope == "*:*":
            errors.append(FieldError(
                f"{field}[{index}]",
                f"'{scope}' is not a scope; use '*', 'entity:action' (e.g. customer:read), 'entity:*' or '*:action'",
                "invalid_scope",
            ))
    if errors:
        raise ValidationProblem(errors)
    return sorted(set(scopes))


# --- effective permissions ----------------------------------------------------------------------


def _wider(a: str, b: str) -> str:
    return a if _SCOPE_RANK.get(a, 0) >= _SCOPE_RANK.get(b, 0) else b


def effective_permissions(roles: Iterable[Mapping[str, Any]]) -> Permissions:
    """Union of roles (each with ``permissions`` and ``field_rules`` dicts); see the module doc."""
    roles = list(roles)
    entities: set[str] = set()
    for role in roles:
        entities.update(role["permissions"])
        entities.update(role.get("field_rules") or {})  # restricted via a "*" grant
    merged: dict[str, EntityGrant] = {}
    readers: dict[str, list[Mapping[str, Any]]] = {}
    for entity in entities:
        actions: set[str] = set()
        scope: str | None = None
        for role in roles:
            perms = role["permissions"]
            # A role's "*" grant applies to every entity, alongside its specific grant.
            for grant in (perms.get(entity), perms.get("*") if entity != "*" else None):
                if not grant or not grant.get("actions"):
                    continue
                actions.update(grant["actions"])
                scope = grant.get("scope", "own") if scope is None else _wider(scope, grant.get("scope", "own"))
                reading = readers.setdefault(entity, [])
                if "read" in grant["actions"] and not any(r is role for r in reading):
                    reading.append(role)
        if actions:
            merged[entity] = EntityGrant(actions=[a for a in ACTIONS if a in actions], scope=scope or "own")
    fields: dict[str, dict[str, str]] = {}
    for entity, reading_roles in readers.items():
        if entity == "*" or not reading_roles:
            continue
        candidates: set[str] = set()
        for role in reading_roles:
            candidates.update((role.get("field_rules") or {}).get(entity, {}))
        for name in sorted(candidates):
            rules = [(role.get("field_rules") or {}).get(entity, {}).get(name) for role in reading_roles]
            if all(rules):  # every role that lets the user read the entity restricts this field
                fields.setdefault(entity, {})[name] = "read_only" if "read_only" in rules else "hidden"
    return Permissions(entities=dict(sorted(merged.items())), fields=fields)


# --- what a granter may grant ---------------------------------------------------------------------
#
# Whoever creates or edits a role, gives a user roles, invites someone with roles or makes an API
# key grants rights, and a grant never exceeds the granter's own: every action they grant they
# hold themself (narrowed by their API key's scopes when they act through one), at a data scope no
# wider than theirs, and a field restricted for them stays at least as restricted in the grant (a
# granter who cannot see a field cannot grant seeing it). Granting ``*`` needs the granter's own
# ``*``, so only someone holding every right (the admin role) can grant the admin role.

_FIELD_RULE_RANK = {None: 0, "read_only": 1, "hidden": 2}


def _rule_words(rule: str | None) -> str:
    return rule or "visible and writable"


def grant_excess(
    granter: Principal, permissions: Mapping[str, Any], field_rules: Mapping[str, Mapping[str, str]],
    field: str = "permissions", rules_field: str = "field_rules",
) -> list[FieldError]:
    """What in a role's grants (validated ``permissions`` and ``field_rules``) exceeds the
    granter's own rights, one entry per excess naming where it is; empty when the grant fits."""
    own = granter.data.permissions
    excess: list[FieldError] = []
    for entity, grant in sorted(permissions.items()):
        actions = [a for a in grant.get("actions") or [] if a in ACTIONS]
        if not actions:
            continue  # grants nothing
        refused = [a for a in actions if not granter.can(entity, a)]
        if refused:
            excess.append(FieldError(
                f"{field}.{entity}.actions", f"you may not {', '.join(refused)} '{entity}' yourself", "exceeds_own_rights"
            ))
        scope, own_scope = grant.get("scope", "own"), own.data_scope(entity)
        if own_scope is not None and _SCOPE_RANK[scope] > _SCOPE_RANK.get(own_scope, 0):
            excess.append(FieldError(
                f"{field}.{entity}.scope", f"'{scope}' is wider than your own scope '{own_scope}'", "exceeds_own_rights"
            ))

    def reads(entity: str) -> bool:  # field rules count only in a role that grants read (see above)
        return any("read" in (permissions.get(e) or {}).get("actions", []) for e in (entity, "*"))

    def grants(entity: str) -> bool:
        return any((permissions.get(e) or {}).get("actions") for e in (entity, "*"))

    for entity, fields in sorted(own.fields.items()):
        if not grants(entity):
            continue
        for name, own_rule in sorted(fields.items()):
            theirs = (field_rules.get(entity) or {}).get(name) if reads(entity) else None
            if _FIELD_RULE_RANK[theirs] < _FIELD_RULE_RANK.get(own_rule, 0):
                hint = "" if reads(entity) else f" (a rule counts only in a role that grants read on '{entity}')"
                excess.append(FieldError(
                    f"{rules_field}.{entity}.{name}",
                    f"would be {_rule_words(theirs)}, but it is {own_rule} for you; mark it {own_rule}" + hint,
                    "exceeds_own_rights",
                ))
    return excess


def changed_grant_excess(
    granter: Principal, before: tuple[Mapping[str, Any], Mapping[str, Any]],
    after: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> list[FieldError]:
    """The excess an edit of a role (``(permissions, field_rules)`` before and after) adds: an
    entity whose grant changes must fit whole; a field's rule may not be loosened beyond the
    granter's own. What the role already granted beyond the granter stays (someone wider made it)."""
    old_excess = {(e.field, e.message) for e in grant_excess(granter, *before)}
    changed = {entity for entity in {*before[0], *after[0]} if before[0].get(entity) != after[0].get(entity)}
    kept = []
    for item in grant_excess(granter, *after):
        _, entity, *_ = item.field.split(".")
        is_grant = item.field.startswith("permissions.")
        if (is_grant and entity in changed) or (not is_grant and (item.field, item.message) not in old_excess):
            kept.append(item)
    return kept


def role_excess(granter: Principal, role: Mapping[str, Any], field: str) -> list[FieldError]:
    """A stored role given to someone or taken from them (a user update, an invitation): only
    someone who holds everything it grants may do either."""
    excess = grant_excess(granter, role["permissions"], role["field_rules"] or {})
    if not excess:
        return []
    what = "; ".join(f"{e.field}: {e.message}" for e in excess)
    return [FieldError(field, f"role '{role['key']}' grants more than you hold ({what})", "exceeds_own_rights")]


def scope_excess(granter: Principal, scopes: list[str], field: str = "scopes") -> list[FieldError]:
    """API key scopes (validated) the granter does not hold: ``*`` needs every action on ``*``,
    ``entity:*`` every action on the entity, ``*:action`` the action on ``*``."""
    excess = []
    for index, scope in enumerate(scopes):
        entity, _, action = scope.partition(":") if scope != "*" else ("*", ":", "*")
        wanted = ACTIONS if action == "*" else (action,)
        if refused := [a for a in wanted if not granter.can(entity, a)]:
            excess.append(FieldError(
                f"{field}[{index}]", f"'{scope}' exceeds your own rights: you may not {', '.join(refused)} "
                f"'{entity}'; name the scopes you hold (see GET /api/v1/me)", "exceeds_own_rights",
            ))
    return excess


def refuse_excess(excess: list[FieldError], what: str = "This would grant more than you hold yourself") -> None:
    """403 naming every excess, or nothing when the grant fits."""
    if excess:
        raise Forbidden(
            f"{what}: " + "; ".join(f"{e.field}: {e.message}" for e in excess),
            kind="grant-exceeds-own-rights", errors=excess,
        )
