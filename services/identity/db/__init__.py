"""Identity's SQL, one module per entity. Functions take a unit of work and return rows.

Tenant-owned tables are only reachable through a ``Unit`` (RLS scoped to one tenant); the few
tables read before a tenant is known (tenants and the token/key hash indexes) also work from a
``SystemUnit``.
"""
