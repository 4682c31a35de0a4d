"""What a caller may find: the records API's rules, applied to search documents.

The same rules as records' ``RecordAccess`` (search does not import records):

* a type is searched only when the caller may ``read`` it (role and API key scopes);
* data scope per type: ``all`` = the tenant; ``department`` = documents owned by the caller or
  whose ``department_id`` is the caller's department or one below it (from the department mirror
  this service keeps, ``directory.py``); ``own`` = owned by the caller (objections and tasks: or
  assigned to them); no grant = nothing;
* a child (contact, interaction, ...) also needs its customer to be visible (and not deleted);
* ``hidden`` fields are neither matched, nor highlighted, nor returned (``phone`` and ``phones``,
  ``email`` and ``emails`` are one field; a rule on ``custom_fields`` covers every custom field).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from services.search.documents import ASSIGNABLE, FIELDS, TYPES
from shared.auth import Principal

_TWINS = {"phone": "phones", "phones": "phone", "email": "emails", "emails": "email"}
# Filter attributes named as field rules name them.
_RULE_NAME = {"tags": "tags", "lifecycle_stage": "lifecycle_stage", "tier": "tier", "status": "status",
              "owner_id": "owner_id"}


@dataclass(frozen=True)
class Scope:
    """The data scope of one type: ``all``, ``department`` (with the subtree) or ``own``."""

    kind: str
    user_id: uuid.UUID
    departments: frozenset[uuid.UUID] = frozenset()
    assignable: bool = False


@dataclass(frozen=True)
class SearchAccess:
    principal: Principal
    department_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id

    def readable_types(self) -> tuple[str, ...]:
        return tuple(t for t in TYPES if self.principal.can(t, "read"))

    def scope(self, type_: str) -> Scope | None:
        """None when the caller sees no record of the type."""
        kind = self.principal.data.permissions.data_scope(type_)
        if kind not in ("all", "department", "own"):
            return None
        departments = self.department_ids if kind == "department" else frozenset()
        return Scope(kind, self.principal.user_id, departments, type_ in ASSIGNABLE)

    def hidden(self, type_: str) -> frozenset[str]:
        rules = self.principal.data.permissions.fields.get(type_, {})
        hidden = {name.split(".", 1)[0] for name, rule in rules.items() if rule == "hidden"}
        return frozenset(hidden | {_TWINS[n] for n in hidden if n in _TWINS})

    def visible_fields(self, type_: str) -> tuple[str, ...]:
        hidden = self.hidden(type_)
        return tuple(f for f in FIELDS[type_] if f not in hidden)

    def filter_hidden(self, type_: str, attribute: str) -> bool:
        return _RULE_NAME.get(attribute, attribute) in self.hidden(type_)


async def load_access(unit: object, principal: Principal) -> SearchAccess:
    """The caller's access; reads the department subtree from the mirror when a scope needs it."""
    grants = principal.data.permissions.entities.values()
    department = principal.data.department_id
    if department is None or not any(g.scope == "department" for g in grants):
        return SearchAccess(principal)
    rows = await unit.fetch(  # type: ignore[attr-defined]
        """SELECT id FROM search.departments
           WHERE tenant_id = $1 AND ('/' || path || '/') LIKE '%/' || $2::text || '/%'""",
        principal.tenant_id, str(department),
    )
    return SearchAccess(principal, frozenset({department, *(r["id"] for r in rows)}))
