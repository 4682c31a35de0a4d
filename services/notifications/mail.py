"""E-mail: the sender that works through due deliveries, and the local SMTP sink.

**Sender.** Any replica leases due rows of ``delivery_queue`` (SKIP LOCKED, 60 s lease), builds the
message (text and HTML alternatives, ``Message-ID: <delivery id@huike>`` so a receiver can drop
a repeat; a sealed reset or invitation token is opened only now) and hands it to the SMTP server
with aiosmtplib (``HUIKE_SMTP_SECURITY`` none / STARTTLS / implicit TLS, optional login). A
temporary failure (4xx, connection refused, timeout) is retried after 30 s, 2, 10, 30 min, 2 h,
6 h; a permanent one (5xx) or the 7th try ends the delivery ``dead`` with the reason; an address
with 3 dead deliveries since its last success is suppressed (``notifications.suppressions``) and
gets no more mail. A crash between sending and recording leaves the lease to run out: the mail is
sent again (at least once), with the same Message-ID.

**Sink.** Without ``HUIKE_SMTP_HOST`` the service starts an aiosmtpd server on 127.0.0.1 and sends
there; it stores every message in ``notifications.sink_mail`` for ``huike mail list|show``. Like
the Internet, it refuses recipients under ``.invalid`` (550) and answers ``busy.invalid`` with a
temporary failure (451), so failures, retries and suppression show without an outside server.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import logging
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

import aiosmtplib
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from services.notifications.db import store
from services.notifications.domain.notify import LINK_PLACEHOLDER
from shared.db import ServiceDatabase
from shared.errors import TenantGone
from shared.sealed import SealError, unseal
from shared.settings import Settings
from shared.tenancy import scope_for_system
from shared.unavailable import is_unavailable

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.notifications.mail")

RETRY_AFTER = (30, 120, 600, 1800, 7200, 21600)  # seconds before the 2nd, 3rd... try
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
SUPPRESS_AFTER_DEAD = 3
LEASE_SECONDS = 60.0


class MailSink:
    """aiosmtpd on the running loop: every message received is a row of ``notifications.sink_mail``."""

    def __init__(self, db: ServiceDatabase, port: int) -> None:
        self.db = db
        self.port = port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> MailSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTPServer(self, hostname="huike-sink", data_size_limit=10 * 1024 * 1024), "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("local SMTP sink listening on 127.0.0.1:%d", self.port)
        return self

    async def handle_RCPT(self, server: SMTPServer, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        # Like the Internet: a domain under .invalid (RFC 2606) cannot receive mail. busy.invalid
        # answers a temporary failure. Both let the sender's retries and suppression be seen locally.
        domain = address.rpartition("@")[2].lower()
        if domain == "busy.invalid":
            return "451 4.3.0 Mailbox busy, try again later"
        if domain == "invalid" or domain.endswith(".invalid"):
            return "550 5.1.2 No such domain"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes)
                                            else str(envelope.content or "").encode())
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
        try:
            async with self.db.system_unit() as unit:
                await store.sink_store(unit, str(envelope.mail_from or ""), [r.lower() for r in envelope.rcpt_tos],
                                       str(parsed.get("Subject", "")), parsed.get("Message-ID"), raw)
        except Exception as exc:  # noqa: BLE001 - tell the sender to try again later
            log.warning("sink could not store a mail: %s", exc)
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)


def build_message(settings: Settings, delivery_id: uuid.UUID, address: str, content: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Subject"] = content.get("subject", "")
    message["Message-ID"] = f"<{delivery_id}@huike>"
    message["X-Huike-Delivery"] = str(delivery_id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.get("text", ""))
    if content.get("html"):
        message.add_alternative(content["html"], subtype="html")
    return message


def open_sealed(settings: Settings, content: dict[str, Any]) -> dict[str, Any]:
    """Put the opened link into a mail whose token travelled sealed."""
    sealed = content.get("sealed")
    if not sealed:
        return content
    token = unseal(settings.jwt_secret, sealed["token_sealed"], context=sealed["context"])
    base = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
    link = f"{base}{sealed['path']}?token={token}"
    return {k: (v.replace(LINK_PLACEHOLDER, link) if isinstance(v, str) else v)
            for k, v in content.items() if k != "sealed"}


class Sender:
    def __init__(self, runtime: Runtime, smtp_host: str, smtp_port: int) -> None:
        self.runtime = runtime
        self.db = runtime.db("notifications")
        self.settings = runtime.settings
        self.host = smtp_host
        self.port = smtp_port
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._smtp: aiosmtplib.SMTP | None = None  # one connection per batch of due mail

    async def start(self) -> Sender:
        self._task = asyncio.create_task(self._run(), name="notifications:mail-sender")
        return self

    async def stop(self) -> None:
        self._stopping.set()
        self.wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 15)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                async with self.db.system_unit() as unit:
                    due = await store.lease_due(unit, 20, LEASE_SECONDS)
                try:
                    for row in due:
                        await self._deliver(row["tenant_id"], row["id"])
                finally:
                    await self._disconnect()
                if due:
                    continue
            except Exception as exc:  # noqa: BLE001 - database down: wait and try again
                log.warning("mail sender: %s", exc)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)

    async def _deliver(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        scope = scope_for_system(tenant_id)
        try:
            async with self.db.tenant_unit(scope) as unit:
                row = await store.delivery_for_send(unit, delivery_id)
        except TenantGone:
            async with self.db.system_unit() as unit:
                await store.drop_from_queue(unit, delivery_id)
            return
        if row is None or row["status"] not in ("pending", "failed"):
            async with self.db.system_unit() as unit:
                await store.drop_from_queue(unit, delivery_id)
            return
        attempts = row["attempts"] + 1
        if row["suppressed"]:
            await self._record(scope, delivery_id, "suppressed", "the address is suppressed", row["address"])
            return
        try:
            message = build_message(self.settings, delivery_id, row["address"], open_sealed(self.settings, row["content"]))
            await self._send(message)
        except SealError as exc:
            await self._record(scope, delivery_id, "dead", f"the link could not be opened: {exc}", row["address"])
            return
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [450]
            reason = "; ".join(f"SMTP {r.code} {r.message}" for r in exc.recipients) or str(exc)
            await self._failed(scope, delivery_id, reason[:500], row["address"], attempts,
                               all(500 <= c < 600 for c in codes))
            return
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            await self._failed(scope, delivery_id, f"SMTP {exc.code} {exc.message}", row["address"], attempts,
                               permanent)
            return
        except Exception as exc:  # noqa: BLE001 - refused, timeout, TLS: temporary
            if not isinstance(exc, aiosmtplib.SMTPException) and not is_unavailable(exc):
                log.exception("mail sender: delivery %s failed", delivery_id)
            await self._failed(scope, delivery_id, f"{type(exc).__name__}: {exc}"[:500], row["address"], attempts,
                               False)
            return
        await self._record(scope, delivery_id, "sent", None, row["address"])

    async def _send(self, message: EmailMessage) -> None:
        if self._smtp is None or not self._smtp.is_connected:
            security = self.settings.smtp_security if self.settings.smtp_host else "none"
            smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, use_tls=security == "tls",
                                   start_tls=True if security == "starttls" else False,
                                   timeout=self.settings.smtp_timeout_seconds)
            await smtp.connect()
            if self.settings.smtp_username:
                await smtp.login(self.settings.smtp_username, self.settings.smtp_password)
            self._smtp = smtp
        try:
            await self._smtp.send_message(message)
        except Exception:
            await self._disconnect()  # a refused message or a broken connection: start clean
            raise

    async def _disconnect(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), 5)
            smtp.close()

    async def _failed(self, scope: Any, delivery_id: uuid.UUID, error: str, address: str, attempts: int,
                      permanent: bool) -> None:
        if permanent or attempts >= MAX_ATTEMPTS:
            await self._record(scope, delivery_id, "dead", error, address)
            return
        at = datetime.now(UTC) + timedelta(seconds=RETRY_AFTER[attempts - 1])
        try:
            async with self.db.tenant_unit(scope) as unit:
                await store.retry_later(unit, delivery_id, error, at)
        except Exception as exc:  # noqa: BLE001 - the lease runs out and another try comes
            log.warning("mail sender: could not record a failure of %s: %s", delivery_id, exc)

    async def _record(self, scope: Any, delivery_id: uuid.UUID, status: str, error: str | None, address: str) -> None:
        try:
            async with self.db.tenant_unit(scope) as unit:
                await store.finish(unit, delivery_id, status, error)
                if status == "dead" and await store.recent_failures(unit, address) >= SUPPRESS_AFTER_DEAD:
                    await store.suppress(unit, address, f"{SUPPRESS_AFTER_DEAD} deliveries failed; last: {error}",
                                         SUPPRESS_AFTER_DEAD)
        except Exception as exc:  # noqa: BLE001 - sent but not recorded: the lease runs out, sent again
            log.warning("mail sender: could not record %s of %s: %s", status, delivery_id, exc)


