"""Attachments of customers, interactions, objections and opportunities: call recordings, photos,
contracts. The bytes live in the file store (``services.records.storage``), the row in
records.attachments (db/attachments.py).

An attachment is reached only through its record, with the record's permissions: listing and
downloading need the right to read the record (an invisible, deleted or other tenant's record
answers 404), uploading and deleting need the right to update it (as a PATCH would). A
soft-deleted record hides its attachments and a restore brings them back; a record purged for good
takes them and their bytes with it (jobs.py).

What a file is comes from its bytes (``sniff``), never from its name or the client's
Content-Type: executables are refused, and so is a name whose extension says another format than
the bytes do (a ``.jpg`` holding a ZIP or a program). Names are cleaned (``clean_name``).
"""

from __future__ import annotations

import unicodedata
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import filetype

from services.records.db import attachments as store
from services.records.db import customers as customers_db
from services.records.db import interactions as interactions_db
from services.records.db import objections as objections_db
from services.records.db import opportunities as opportunities_db
from services.records.domain.access import RecordAccess
from services.records.domain.history import jsonable
from shared.db import Unit
from shared.errors import NotFound, ValidationProblem

# URL collection -> permission entity.
COLLECTIONS = {"customers": "customer", "interactions": "interaction", "objections": "objection",
               "opportunities": "opportunity"}
_STORES: dict[str, Any] = {"customer": customers_db, "interaction": interactions_db, "objection": objections_db,
                           "opportunity": opportunities_db}
# How many leading bytes the sniffer looks at (filetype reads at most 8 KiB).
HEAD_BYTES = 8192
MAX_NAME = 255

# --- what a file is -------------------------------------------------------------------------------

# filetype kinds that run as programs, and names that do whatever their bytes.
_EXECUTABLE_KINDS = frozenset({"exe", "elf", "crx", "swf", "wasm", "deb", "rpm", "nes"})
_EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "dll", "com", "scr", "msi", "msp", "cpl", "sys", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse",
    "wsf", "wsh", "hta", "jar", "apk", "app", "dmg", "pkg", "deb", "rpm", "sh", "bash", "elf", "so", "dylib", "lnk",
    "reg", "scf", "pif", "gadget", "msc", "xbap", "action", "command", "run",
})
# Mach-O and Java class magic numbers (filetype knows neither).
_EXECUTABLE_MAGIC = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                     b"\xca\xfe\xba\xbe")
_OFFICE_ZIP = {"zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub"}
_OLE = {"doc", "xls", "ppt"}
# A name's extension -> the sniffed kinds its bytes may be. An extension listed here whose bytes are
# not one of its kinds is a contradiction (422); one not listed takes whatever the bytes are.
_COMPATIBLE: dict[str, set[str]] = {
    **{ext: {"jpg"} for ext in ("jpg", "jpeg", "jpe", "jfif")},
    "png": {"png", "apng"}, "apng": {"png", "apng"}, "gif": {"gif"}, "webp": {"webp"}, "bmp": {"bmp"},
    "tif": {"tif"}, "tiff": {"tif"}, "heic": {"heic", "avif"}, "heif": {"heic", "avif"}, "avif": {"avif", "heic"},
    "ico": {"ico"}, "psd": {"psd"},
    "pdf": {"pdf"}, "rtf": {"rtf"},
    "mp3": {"mp3"}, "m4a": {"m4a", "mp4"}, "aac": {"aac", "m4a", "mp4"}, "amr": {"amr"}, "wav": {"wav"},
    "ogg": {"ogg"}, "oga": {"ogg"}, "opus": {"ogg"}, "flac": {"flac"}, "aif": {"aiff"}, "aiff": {"aiff"},
    "mp4": {"mp4", "m4v", "m4a", "mov", "3gp"}, "m4v": {"m4v", "mp4"}, "mov": {"mov", "mp4"},
    "3gp": {"3gp", "mp4"}, "avi": {"avi"}, "webm": {"webm", "mkv"}, "mkv": {"mkv", "webm"}, "wmv": {"wmv"},
    "flv": {"flv"}, "mpg": {"mpg"}, "mpeg": {"mpg"},
    **{ext: _OFFICE_ZIP for ext in ("zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub")},
    **{ext: _OLE for ext in _OLE},
    "gz": {"gz"}, "tgz": {"gz"}, "7z": {"7z"}, "rar": {"rar"}, "tar": {"tar"}, "bz2": {"bz2"}, "xz": {"xz"},
}
# Extensions of text formats: bytes of a binary format under such a name are a contradiction too.
_TEXT_EXTENSIONS = frozenset({"txt", "csv", "tsv", "md", "json", "xml", "html", "htm", "log", "ini", "yaml", "yml",
                              "vcf", "ics", "eml", "svg"})


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    kind: str | None  # filetype's extension for the format, None for text or unknown bytes


def extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[1].lower() if "." in base.strip(".") else ""


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def sniff(name: str, head: bytes) -> Sniffed:
    """The content type of a file from its first bytes; 422 naming ``file`` for an executable or a
    name whose extension contradicts the bytes."""
    ext = extension(name)
    kind = filetype.guess(head)
    kind_ext = kind.extension if kind is not None else None
    # "#!" opens a script, unless it is a format's magic (AMR recordings start with "#!AMR").
    script = kind is None and head.startswith(b"#!")
    if kind_ext in _EXECUTABLE_KINDS or ext in _EXECUTABLE_EXTENSIONS or script or head.startswith(_EXECUTABLE_MAGIC):
        raise ValidationProblem.one("file", "is a program or script; executable files are not accepted",
                                    "executable")
    if kind is not None:
        if (ext in _COMPATIBLE and kind_ext not in _COMPATIBLE[ext]) or ext in _TEXT_EXTENSIONS:
            raise ValidationProblem.one(
                "file", f"is named .{ext} but its content is {kind.mime} (.{kind_ext}); rename it or send the "
                        "right file", "type_mismatch")
        return Sniffed(kind.mime, kind_ext)
    if ext in _COMPATIBLE:
        raise ValidationProblem.one(
            "file", f"is named .{ext} but its content is not a .{ext} file; rename it or send the right file",
            "type_mismatch")
    if head and _is_text(head):
        return Sniffed("text/plain; charset=utf-8", None)
    return Sniffed("application/octet-stream", None)


# --- names ----------------------------------------------------------------------------------------


def clean_name(raw: str) -> str:
    """The file name to keep: its last path part (browsers on Windows send ``C:\\...\\a.pdf``),
    without control characters (NUL included) or leading dots and spaces, at most 255 characters
    with the extension kept; ``attachment`` when nothing is left."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
    name = name.strip().lstrip(". ").rstrip(". ")
    if not name:
        return "attachment"
    if len(name) > MAX_NAME:
        ext = extension(name)
        suffix = f".{ext}" if ext and len(ext) < 16 else ""
        name = name[: MAX_NAME - len(suffix)].rstrip() + suffix
    return name


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name in RFC 5987 form (Chinese names)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%' else "_" for c in name) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


# --- the record an attachment belongs to ----------------------------------------------------------


def entity_of(collection: str) -> str:
    try:
        return COLLECTIONS[collection]
    except KeyError:
        raise NotFound(f"No collection {collection} takes attachments", kind="not-found") from None


def _record_not_found(entity: str, record_id: uuid.UUID) -> NotFound:
    return NotFound(f"No {entity} {record_id}", kind="customer-not-found" if entity == "customer" else "not-found")


async def record(unit: Unit, access: RecordAccess, entity: str, record_id: uuid.UUID, action: str
                 ) -> asyncpg.Record:
    """The live record if the caller may ``action`` ("read" or "update") it; 403 without the right
    to ``update`` (as a PATCH answers), 404 for a missing, deleted or invisible record (and its
    customer, for a child, must be live and visible too)."""
    if action == "update":
        access.require(entity, "update")
    elif not access.can(entity, action):
        raise _record_not_found(entity, record_id)
    row = await _STORES[entity].get(unit, record_id)
    if row is None or not access.visible(entity, row):
        raise _record_not_found(entity, record_id)
    if entity != "customer":
        parent = await customers_db.get(unit, row["customer_id"])
        if parent is None or not access.visible("customer", parent):
            raise _record_not_found(entity, record_id)
    return row


def customer_of(entity: str, row: Mapping[str, Any]) -> uuid.UUID:
    return row["id"] if entity == "customer" else row["customer_id"]


# --- use cases ------------------------------------------------------------------------------------


def out(row: Mapping[str, Any]) -> dict[str, Any]:
    return jsonable({k: row[k] for k in ("id", "name", "size", "content_type", "created_at", "created_by")})


def _event_data(row: Mapping[str, Any], parent: Mapping[str, Any]) -> dict[str, Any]:
    """The event's ``data``: the attachment, its record and the record's owner and department (so a
    consumer applies the record's data scope)."""
    return jsonable({
        "record": {**out(row), "entity": row["entity"], "record_id": row["record_id"]},
        "entity": row["entity"], "record_id": row["record_id"], "customer_id": row["customer_id"],
        "owner_id": parent.get("owner_id"), "department_id": parent.get("department_id"),
    })


async def add(unit: Unit, access: RecordAccess, entity: str, record_id: uuid.UUID, *, attachment_id: uuid.UUID,
              name: str, size: int, content_type: str, file_key: str) -> dict[str, Any]:
    """Record an uploaded file (its bytes already stored under ``file_key``) and publish
    ``attachment.added``; the record is checked again (it may have gone while the bytes arrived)."""
    parent = await record(unit, access, entity, record_id, "update")
    row = await store.insert(unit, {
        "id": attachment_id, "entity": entity, "record_id": record_id, "customer_id": customer_of(entity, parent),
        "name": name, "size": size, "content_type": content_type, "file_key": file_key, "created_by": access.user_id,
    })
    await unit.emit("attachment", "added", attachment_id, actor=access.actor, data=_event_data(row, parent))
    return out(row)


async def visible(unit: Unit, access: RecordAccess, attachment_id: uuid.UUID, action: str
                  ) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The attachment and its record, if the caller may ``action`` the record; 404 otherwise (a
    caller who may read the record but not update it gets 403 for ``update``)."""
    row = await store.get(unit, attachment_id, for_update=action == "update")
    missing = NotFound(f"No attachment {attachment_id}", kind="attachment-not-found")
    if row is None:
        raise missing
    try:
        parent = await record(unit, access, row["entity"], row["record_id"], "read")
    except NotFound:
        raise missing from None
    if action == "update":
        parent = await record(unit, access, row["entity"], row["record_id"], "update")
    return row, parent


async def remove(unit: Unit, access: RecordAccess, attachment_id: uuid.UUID) -> None:
    """Delete an attachment (its bytes go with the purge, 30 days on) and publish ``attachment.removed``."""
    _, parent = await visible(unit, access, attachment_id, "update")
    row = await store.mark_deleted(unit, attachment_id, access.user_id)
    if row is None:
        raise NotFound(f"No attachment {attachment_id}", kind="attachment-not-found")
    await unit.emit("attachment", "removed", attachment_id, actor=access.actor, data=_event_data(row, parent),
                    version=2)
