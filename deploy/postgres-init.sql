-- Huike's database and its two roles, for the postgres:17 image's first start
-- (mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml; runs once, on an empty volume).
--
--   huike_owner  owns database "huike" and, through the migrations, every schema and table in it.
--                `huike migrate` connects as this role (HUIKE_DATABASE_OWNER_URL).
--   huike_app    the runtime role every service connects as (HUIKE_DATABASE_URL). It owns nothing
--                and cannot bypass row-level security; migrations grant it USAGE on each service
--                schema and DML on its tables.
--
-- Neither role is a superuser or has BYPASSRLS: superusers and BYPASSRLS roles ignore row-level
-- security even when it is FORCEd, which would switch tenant isolation off.
--
-- Passwords come from the container's environment (psql's \getenv, PostgreSQL 15+ clients):
-- HUIKE_OWNER_PASSWORD and HUIKE_APP_PASSWORD. Use URL-safe values (e.g. `openssl rand -hex 24`):
-- they are also written into postgresql:// URLs.

\set ON_ERROR_STOP on

\getenv huike_owner_password HUIKE_OWNER_PASSWORD
\getenv huike_app_password HUIKE_APP_PASSWORD

\if :{?huike_owner_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'deploy/postgres-init.sql: set HUIKE_OWNER_PASSWORD in the postgres container'; END $$;
\endif
\if :{?huike_app_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'deploy/postgres-init.sql: set HUIKE_APP_PASSWORD in the postgres container'; END $$;
\endif

CREATE ROLE huike_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
    PASSWORD :'huike_owner_password';
CREATE ROLE huike_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT
    PASSWORD :'huike_app_password';

CREATE DATABASE huike OWNER huike_owner ENCODING 'UTF8' TEMPLATE template0;

-- Only the two Huike roles may connect; nobody but the owner may create schemas.
REVOKE ALL ON DATABASE huike FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE huike TO huike_app;

\connect huike
-- PostgreSQL 15+ already keeps CREATE on schema public from PUBLIC; say it anyway.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Extensions the services use, created here by the superuser so the owner role never needs to be
-- one. pg_trgm's similarity operator is marked LEAKPROOF so its trigram indexes work under
-- row-level security (see services/records/db/migrations/0007_duplicate_name_lookup.sql).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
ALTER FUNCTION similarity_op(text, text) LEAKPROOF;
ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;  -- full-text index under RLS (search)
