"""The pure rules: effective permissions, the password policy, slugs (no servers needed)."""

from __future__ import annotations

import pytest

from services.identity.domain.passwords import password_problem
from services.identity.domain.permissions import DEFAULT_ROLES, effective_permissions, validate_scopes
from services.identity.domain.slugs import slug_from_name, slug_problem
from shared.errors import ValidationProblem


def role(permissions: dict, field_rules: dict | None = None) -> dict:
    return {"permissions": permissions, "field_rules": field_rules or {}}


def test_union_of_actions_and_widest_scope() -> None:
    perms = effective_permissions(
        [
            role({"customer": {"actions": ["read"], "scope": "all"}}),
            role(
                {
                    "customer": {"actions": ["update"], "scope": "own"},
                    "task": {"actions": ["read"], "scope": "department"},
                }
            ),
        ]
    )
    assert perms.entities["customer"].actions == ["read", "update"]
    assert perms.entities["customer"].scope == "all"
    assert perms.entities["task"].scope == "department"
    assert perms.allows("customer", "update") and not perms.allows("customer", "delete")
    assert not perms.allows("opportunity", "read")


def test_star_grant_counts_for_specific_entities() -> None:
    perms = effective_permissions(
        [
            role({"*": {"actions": ["read"], "scope": "all"}}),
            role({"customer": {"actions": ["update"], "scope": "own"}}),
        ]
    )
    assert perms.entities["customer"].actions == ["read", "update"]
    assert perms.entities["customer"].scope == "all"
    assert perms.allows("contact", "read")


def test_field_restricted_only_if_every_reading_role_restricts_it() -> None:
    hides = role(
        {"customer": {"actions": ["read"], "scope": "all"}}, {"customer": {"phone": "hidden", "tier": "hidden"}}
    )
    read_only = role({"customer": {"actions": ["read"], "scope": "own"}}, {"customer": {"phone": "read_only"}})
    shows = role({"customer": {"actions": ["read"], "scope": "own"}})
    no_read = role({"customer": {"actions": ["create"], "scope": "own"}})
    assert effective_permissions([hides]).fields == {"customer": {"phone": "hidden", "tier": "hidden"}}
    assert effective_permissions([hides, read_only]).fields == {"customer": {"phone": "read_only"}}
    assert effective_permissions([hides, shows]).fields == {}
    assert effective_permissions([hides, no_read]).fields["customer"]["phone"] == "hidden"
    via_star = role({"*": {"actions": ["read"], "scope": "all"}}, {"customer": {"phone": "hidden"}})
    assert effective_permissions([via_star]).fields == {"customer": {"phone": "hidden"}}


def test_default_roles() -> None:
    admin = effective_permissions([role(DEFAULT_ROLES["admin"]["permissions"])])
    assert all(admin.allows(e, "delete") for e in ("customer", "user", "tenant", "audit_log"))
    sales = effective_permissions([role(DEFAULT_ROLES["sales"]["permissions"])])
    assert sales.data_scope("customer") == "own" and not sales.allows("customer", "export")
    assert not sales.allows("audit_log", "read") and not sales.allows("role", "update")
    manager = effective_permissions([role(DEFAULT_ROLES["manager"]["permissions"])])
    assert manager.data_scope("customer") == "department" and manager.allows("customer", "transfer")


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "Password2024!",
        "P@ssw0rd!!",
        "qwertyuiop",
        "1234567890",
        "abcdefghijk",
        "iloveyou1314",
        "woaini1314520",
        "aaaaaaaaaaaaa",
        "short",
    ],
)
def test_weak_passwords(password: str) -> None:
    assert password_problem(password) is not None


@pytest.mark.parametrize("password", ["Correct-Horse-Battery-9", "tangerine orbit velvet", "9fj2!kq8Lz#mX"])
def test_good_passwords(password: str) -> None:
    assert password_problem(password) is None


def test_password_based_on_the_account_is_weak() -> None:
    assert password_problem("zhangsan.work@example.com", context=("zhangsan.work@example.com",)) is not None
    assert password_problem("Zhangsan.work2024", context=("zhangsan.work@example.com",)) is not None


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("汇客科技", "huikekeji"),
        ("汇客 科技", "huike-keji"),
        ("汇客科技有限公司", "huikekeji"),
        ("Acme Trading Co., Ltd.", "acme-trading"),
        ("Café Müller GmbH", "cafe-muller"),
        ("北京 Acme 公司", "beijing-acme"),
    ],
)
def test_slugs_from_names(name: str, slug: str) -> None:
    assert slug_from_name(name) == slug


def test_unusable_names_still_get_a_valid_slug() -> None:
    for name in ("🙂🙂", "a", "Admin"):
        slug = slug_from_name(name)
        assert slug_problem(slug) is None, slug


def test_scopes() -> None:
    assert validate_scopes(["*", "customer:read", "customer:*", "*:export"]) == [
        "*",
        "*:export",
        "customer:*",
        "customer:read",
    ]
    with pytest.raises(ValidationProblem):
        validate_scopes(["customer:fly"])
