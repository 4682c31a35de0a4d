"""Row-level security is the last line of tenant isolation: it holds even when a query forgets."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from shared.db import Database
from shared.db.migrations import migrate
from shared.tenancy import TenantScope, scope_for_system

MIGRATIONS = Path(__file__).parent / "rls_migrations"


@pytest.fixture(scope="module")
async def database(infra):
    await migrate(infra.owner_url, "rlstest", MIGRATIONS, "huike_app")
    db = await Database.connect(infra.app_url, min_size=1, max_size=4)
    yield db
    await db.close()


@pytest.fixture(scope="module")
def notes_db(database: Database):
    return database.for_service("rlstest")


async def _add_notes(db, scope: TenantScope, *bodies: str) -> None:
    async with db.tenant_unit(scope) as unit:
        for body in bodies:
            await unit.execute("INSERT INTO rlstest.notes (tenant_id, id, body) VALUES ($1, $2, $3)",
                               scope.tenant_id, uuid.uuid4(), body)


async def test_query_without_tenant_filter_sees_only_current_tenant(notes_db) -> None:
    a, b = scope_for_system(uuid.uuid4()), scope_for_system(uuid.uuid4())
    await _add_notes(notes_db, a, "a1", "a2")
    await _add_notes(notes_db, b, "b1")
    async with notes_db.tenant_unit(a) as unit:
        # Deliberately no WHERE tenant_id = ...: the policy must do it.
        bodies = sorted(r["body"] for r in await unit.fetch("SELECT body FROM rlstest.notes"))
    assert bodies == ["a1", "a2"]
    async with notes_db.tenant_unit(b) as unit:
        assert [r["body"] for r in await unit.fetch("SELECT body FROM rlstest.notes")] == ["b1"]


async def test_no_tenant_means_no_rows(notes_db) -> None:
    await _add_notes(notes_db, scope_for_system(uuid.uuid4()), "hidden")
    async with notes_db.system_unit() as unit:
        assert await unit.fetchval("SELECT count(*) FROM rlstest.notes") == 0


async def test_writing_into_another_tenant_is_refused(notes_db) -> None:
    a, b = scope_for_system(uuid.uuid4()), scope_for_system(uuid.uuid4())
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with notes_db.tenant_unit(a) as unit:
            await unit.execute("INSERT INTO rlstest.notes (tenant_id, id, body) VALUES ($1, $2, 'x')",
                               b.tenant_id, uuid.uuid4())
    async with notes_db.tenant_unit(b) as unit:
        assert await unit.fetchval("SELECT count(*) FROM rlstest.notes") == 0


async def test_a_read_only_unit_sees_its_tenant_and_refuses_writes(notes_db) -> None:
    a, b = scope_for_system(uuid.uuid4()), scope_for_system(uuid.uuid4())
    await _add_notes(notes_db, a, "mine")
    await _add_notes(notes_db, b, "theirs")
    async with notes_db.tenant_unit(a, read_only=True) as unit:
        assert [r["body"] for r in await unit.fetch("SELECT body FROM rlstest.notes")] == ["mine"]
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with notes_db.tenant_unit(a, read_only=True) as unit:
            await unit.execute("INSERT INTO rlstest.notes (tenant_id, id, body) VALUES ($1, $2, 'x')",
                               a.tenant_id, uuid.uuid4())
    async with notes_db.tenant_unit(a) as unit:
        assert await unit.fetchval("SELECT count(*) FROM rlstest.notes") == 1


async def test_a_savepoint_inside_a_unit_rolls_back_alone(notes_db) -> None:
    scope = scope_for_system(uuid.uuid4())
    async with notes_db.tenant_unit(scope) as unit:
        await unit.execute("INSERT INTO rlstest.notes (tenant_id, id, body) VALUES ($1, $2, 'kept')",
                           scope.tenant_id, uuid.uuid4())
        with pytest.raises(RuntimeError):
            async with unit.conn.transaction():  # a savepoint, not a second BEGIN
                await unit.execute("INSERT INTO rlstest.notes (tenant_id, id, body) VALUES ($1, $2, 'undone')",
                                   scope.tenant_id, uuid.uuid4())
                raise RuntimeError("undo the savepoint")
    async with notes_db.tenant_unit(scope) as unit:
        assert [r["body"] for r in await unit.fetch("SELECT body FROM rlstest.notes")] == ["kept"]


async def test_connection_back_in_pool_carries_no_tenant(infra) -> None:
    # A pool of one connection: the next user gets exactly the connection the unit used.
    db = await Database.connect(infra.app_url, min_size=1, max_size=1)
    try:
        notes = db.for_service("rlstest")
        scope = scope_for_system(uuid.uuid4())
        await _add_notes(notes, scope, "secret")
        async with notes.tenant_unit(scope) as unit:
            assert await unit.fetchval("SELECT count(*) FROM rlstest.notes") == 1
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT huike.current_tenant()") is None
            assert await conn.fetchval("SELECT count(*) FROM rlstest.notes") == 0
    finally:
        await db.close()


async def test_runtime_role_cannot_bypass_rls(database: Database) -> None:
    async with database.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        owns = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = current_user"
        )
    assert (row["rolsuper"], row["rolbypassrls"]) == (False, False)
    assert owns == 0


async def test_tenant_scope_cannot_be_forged() -> None:
    with pytest.raises(TypeError):
        TenantScope(uuid.uuid4(), "credential", object())


async def test_rls_keeps_index_scans(notes_db) -> None:
    scope = scope_for_system(uuid.uuid4())
    await _add_notes(notes_db, scope, *[f"n{i}" for i in range(50)])
    async with notes_db.tenant_unit(scope) as unit:
        await unit.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await unit.fetch(
            "EXPLAIN SELECT body FROM rlstest.notes WHERE id = $1", uuid.uuid4()))
    # The tenant predicate from the policy is an InitPlan constant, so the primary key index is used.
    assert "Index" in plan and "notes_pkey" in plan
