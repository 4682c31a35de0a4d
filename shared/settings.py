"""Settings from environment variables, all under one prefix: ``HUIKE_``.

Validated once at start-up; a bad value stops the process with one line naming the variable.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "HUIKE_"


class SettingsError(RuntimeError):
    """A configuration value is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # `huike run`: HTTP server processes on the port (each a replica of every service); 0: one per
    # usable core (shared/cpu.py: affinity and cgroup quota), at most 2 (services/cli.py); 1 serves
    # in the `huike run` process.
    http_processes: int = Field(
        0, ge=0, le=64, description="HTTP server processes of `huike run`; 0: one per usable core, at most 2")
    max_request_bytes: int = Field(1_048_576, ge=1024, description="largest accepted request body")
    import_max_bytes: int = Field(100 * 1_048_576, ge=1024, description="largest accepted import file (POST /api/v1/imports)")
    attachment_max_bytes: int = Field(
        50 * 1_048_576, ge=1024, description="largest accepted attachment (POST /api/v1/<collection>/{id}/attachments)")
    bulk_file_retention_days: int = Field(
        7, ge=1, le=3_650, description="days export files and import error reports are kept after their job")
    bulk_job_lease_seconds: float = Field(
        60.0, ge=3, description="an import or export whose worker died is taken over after this many seconds")
    # Where bulk files and attachments live (services/records/storage.py): PostgreSQL (records'
    # tables, the default) or an S3-compatible object store (AWS S3, MinIO, Ceph, OSS, COS...).
    file_store: str = Field("postgres", pattern="^(postgres|s3)$", description="postgres or s3")
    s3_endpoint: str = Field("", description="S3 endpoint URL (e.g. http://minio:9000); empty: AWS S3 of s3_region")
    s3_bucket: str = Field("", description="bucket of bulk files and attachments (HUIKE_FILE_STORE=s3)")
    s3_region: str = Field("us-east-1", description="the bucket's region")
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    public_url: str = ""
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated CIDRs, e.g.
    # "10.0.0.0/8,127.0.0.1"). Empty: the socket peer is the client, and the header is ignored.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CIDRs of reverse proxies whose X-Forwarded-For is believed")

    # The built web console (web/dist) served at /; empty: the repository's web/dist when built.
    console_dir: Path | None = Field(None, description="directory of the built web console (index.html, assets/)")

    # Where the embedded default keeps its data (PostgreSQL, NATS, secrets).
    data_dir: Path = Path(".huike")

    # Readiness: /readyz also checks the free space of this directory when set (the embedded
    # default sets its data directory: PostgreSQL and NATS write there).
    readiness_disk_path: Path | None = None
    readiness_min_free_mb: int = Field(64, ge=0, description="free space /readyz wants at readiness_disk_path")

    # External servers. Empty means "start the embedded ones".
    database_url: str = Field("", description="PostgreSQL URL of the runtime role (owns nothing, no BYPASSRLS)")
    database_owner_url: str = Field("", description="PostgreSQL URL of the role that owns the schemas; runs migrations")
    embedded_pg_shared_buffers_mb: int = Field(
        128, ge=0, le=1_048_576, description="shared_buffers of the embedded PostgreSQL in MB (128: laptop sized);"
        " 0: a quarter of the machine's memory, up to 4 GB (large tenants, benchmarks)")
    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)
    nats_url: str = ""
    nats_stream_replicas: int = Field(1, ge=1, le=5)
    meilisearch_url: str = ""
    meilisearch_key: str = ""
    search_engine: str = Field("postgres", pattern="^(postgres|meilisearch)$", description="search engine")
    search_workers: int = Field(
        0, ge=0, le=64, description="document-builder processes per pool of the search service; 0: one per CPU"
        " of the container's CPU quota (cgroup), never the node's core count")
    search_reconcile_first_after_seconds: float = Field(
        30.0, ge=0, description="seconds after start-up before the search index is first reconciled with records")

    # Secrets. The embedded default generates them under data_dir when left empty.
    jwt_secret: str = ""
    operator_token: str = ""

    # Authentication
    access_token_ttl_seconds: int = Field(900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=300)
    invitation_ttl_seconds: int = Field(7 * 86_400, ge=300)
    password_reset_ttl_seconds: int = Field(3_600, ge=60)
    tenant_deletion_grace_days: int = Field(30, ge=0)
    principal_cache_ttl_seconds: float = Field(30.0, gt=0)
    signup_rate_limit: int = Field(20, ge=0, description="sign-ups per source address per hour; 0: no limit")
    principal_stale_seconds: float = Field(
        600.0, ge=0, description="while identity is unreachable (NATS down), credentials resolved within this"
        " many seconds are still accepted; 0 refuses every request with 503 instead")

    # Notifications' e-mail. No host: the notifications service starts a local SMTP sink that keeps
    # every mail in its tables (`huike mail list|show`), so the embedded default needs no server.
    smtp_host: str = Field("", description="SMTP server; empty starts the local sink")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: str = Field("starttls", pattern="^(none|starttls|tls)$",
                               description="none, starttls (port 587) or tls (implicit TLS, port 465)")
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = Field("Huike <no-reply@huike.local>", description="From: of notification mail")
    smtp_timeout_seconds: float = Field(20.0, gt=0)
    smtp_sink_port: int = Field(0, ge=0, le=65535, description="port of the local SMTP sink; 0 picks a free one")

    # Events
    event_max_deliveries: int = Field(5, ge=1, le=100)
    event_duplicate_window_seconds: int = Field(2 * 3_600, ge=60)

    # Workflows
    workflow_concurrency: int = Field(
        16, ge=1, le=256, description="runs and timers one replica's workflow engine handles at once (the runs"
        " of one record still one after the other)")

    # Outgoing webhooks and chat robots
    webhook_allow_private: bool = Field(
        False, description="let webhooks and chat robots reach loopback, private and link-local addresses"
        " (never in production: SSRF)")

    # Telemetry and logs
    otlp_endpoint: str = Field("", description="OTLP/HTTP endpoint; empty exports nothing")
    service_name: str = "huike"
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _cidrs(cls, value: object) -> list[str]:
        items = value.split(",") if isinstance(value, str) else list(value or [])  # type: ignore[call-overload]
        networks = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"'{item}' is not an address or CIDR (e.g. 10.0.0.0/8)") from None
        return networks

    @field_validator("s3_endpoint")
    @classmethod
    def _s3_endpoint(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.file_store == "s3" and not self.s3_bucket:
            raise ValueError("HUIKE_FILE_STORE=s3 needs HUIKE_S3_BUCKET")
        return self

    @field_validator("database_url", "database_owner_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        if value and not value.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise ValueError("must be a nats:// URL")
        return value

    @property
    def embedded(self) -> bool:
        """True when no external PostgreSQL or NATS is configured."""
        return not self.database_url or not self.nats_url


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise SettingsError with one clear line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
