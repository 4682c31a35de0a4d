"""What the caller may do and see in records: actions, data scope, field rules.

Built per request from the verified ``Principal`` (identity's effective permissions, never cached
here) and the caller's department subtree from the directory mirror:

* actions: ``require(entity, action)`` answers 403 when the role (or API key scope) lacks it;
* data scope: ``all`` = the tenant; ``department`` = records whose ``department_id`` is the
  caller's department or one below it (and records the caller owns); ``own`` = ``owner_id`` is
  the caller, and for objections and tasks also ``assignee_id``. Lists use ``scope_filter`` (SQL),
  single reads ``visible`` (a row outside the scope answers 404 like a missing one);
* field rules: ``hidden`` fields are removed by ``redact``; writing a ``hidden`` or ``read_only``
  field answers 403 naming it (``check_writable``). The contract's single ``phone`` / ``email``
  and the ``phones`` / ``emails`` lists are one field for these rules, so a rule on either covers
  both; a rule on ``custom_fields`` covers every custom field.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.auth import Principal
from shared.errors import Forbidden
from shared.events.envelope import Actor
from shared.tenancy import TenantScope

# Entities whose ``own`` scope also covers records assigned to the caller.
ASSIGNABLE = frozenset({"objection", "task"})
# Field names that are one field for field rules.
_TWINS = {"phone": "phones", "phones": "phone", "email": "emails", "emails": "email"}


@dataclass(frozen=True)
class RecordAccess:
    """The caller's rights over records. Make it with ``load_access`` (api: the ``access`` dependency)."""

    principal: Principal
    # The caller's department and every department below it (empty without a department).
    department_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    # hidden_fields per entity, worked out once per request (redact runs for every row of a page).
    _hidden: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def scope(self) -> TenantScope:
        return self.principal.scope

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id

    @property
    def user_id(self) -> uuid.UUID:
        return self.principal.user_id

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def department_id(self) -> uuid.UUID | None:
        return self.principal.data.department_id

    # --- actions ---------------------------------------------------------------------------------

    def can(self, entity: str, action: str) -> bool:
        return self.principal.can(entity, action)

    def require(self, entity: str, action: str) -> None:
        """403 problem (kind ``permission-denied``) unless the caller may do ``action`` on ``entity``."""
        self.principal.require(entity, action)

    # --- data scope ------------------------------------------------------------------------------

    def data_scope(self, entity: str) -> str | None:
        """``all``, ``department``, ``own``, or None when the caller has no grant on the entity."""
        return self.principal.data.permissions.data_scope(entity)

    def scope_filter(self, entity: str, alias: str, next_param: int) -> tuple[str, list[Any]]:
        """SQL condition limiting ``alias`` rows to the caller's data scope, and its arguments.

        ``next_param`` is the number of the first ``$n`` placeholder the condition may use; the
        caller appends the returned args to its own. Example::

            where, args = access.scope_filter("customer", "c", len(params) + 1)
            params += args
        """
        scope = self.data_scope(entity)
        owner = f"{alias}.owner_id = ${next_param}"
        if entity in ASSIGNABLE:
            owner = f"({owner} OR {alias}.assignee_id = ${next_param})"
        if scope == "all":
            return "TRUE", []
        if scope == "department":
            return (f"({owner} OR {alias}.department_id = ANY(${next_param + 1}::uuid[]))",
                    [self.user_id, list(self.department_ids)])
        if scope == "own":
            return owner, [self.user_id]
        return "FALSE", []

    def visible(self, entity: str, row: Mapping[str, Any]) -> bool:
        """Whether one row (with owner_id, department_id[, assignee_id]) is in the caller's scope."""
        scope = self.data_scope(entity)
        if scope == "all":
            return True
        mine = row.get("owner_id") == self.user_id or (
            entity in ASSIGNABLE and row.get("assignee_id") == self.user_id
        )
        if scope == "own":
            return mine
        if scope == "department":
            return mine or row.get("department_id") in self.department_ids
        return False

    # --- field rules -----------------------------------------------------------------------------

    def field_rule(self, entity: str, name: str) -> str | None:
        """``hidden``, ``read_only`` or None for one field (``custom_fields.<key>`` counts as ``custom_fields``)."""
        base = name.split(".", 1)[0]
        rules = self.principal.data.permissions.fields.get(entity, {})
        rule = rules.get(base) or (rules.get(_TWINS[base]) if base in _TWINS else None)
        return rule

    def hidden_fields(self, entity: str) -> frozenset[str]:
        """Every field name hidden from the caller, twins included (e.g. phone and phones)."""
        known = self._hidden.get(entity)
        if known is None:
            rules = self.principal.data.permissions.fields.get(entity, {})
            hidden = {name for name, rule in rules.items() if rule == "hidden"}
            known = self._hidden[entity] = frozenset(hidden | {_TWINS[n] for n in hidden if n in _TWINS})
        return known

    def redact(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` without the fields hidden from the caller."""
        hidden = self.hidden_fields(entity)
        if not hidden:
            return record
        return {k: v for k, v in record.items() if k not in hidden}

    def check_writable(self, entity: str, field_names: Iterable[str]) -> None:
        """403 naming the first field the caller may not write (hidden or read-only)."""
        for name in field_names:
            rule = self.field_rule(entity, name)
            if rule is not None:
                raise Forbidden(
                    f"You may not change '{name}' of a {entity}: it is {rule.replace('_', '-')} for your role",
                    kind="field-not-writable", extra={"entity": entity, "field": name, "rule": rule},
                )


async def load_access(unit: Any, principal: Principal) -> RecordAccess:
    """The caller's ``RecordAccess``; reads the department subtree from the mirror when needed.

    ``unit`` is a records tenant unit of the caller's tenant.
    """
    grants = principal.data.permissions.entities.values()
    department = principal.data.department_id
    if department is None or not any(g.scope == "department" for g in grants):
        return RecordAccess(principal)
    # A department is below the caller's when the caller's id is a segment of its path.
    rows = await unit.fetch(
        """SELECT id FROM records.directory_departments
           WHERE tenant_id = $1 AND ('/' || path || '/') LIKE '%/' || $2::text || '/%'""",
        principal.tenant_id, str(department),
    )
    return RecordAccess(principal, frozenset({department, *(r["id"] for r in rows)}))
