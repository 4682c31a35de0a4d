"""Bulk import of customers and contacts from CSV or XLSX.

The API streams the upload to the file store, ``inspect``s it (format, encoding, header, at
least one data row) and ``resolve_mapping``s its columns to fields before anything is written, so
a bad file answers 4xx with nothing stored. The worker (``jobs_bulk.py``) then ``run``s the job:
it reads the file as a stream in batches of ``BATCH_ROWS`` rows, validates each row with the same
rules as the API (the entity's Create struct, its normalisers, custom field validation, required
fields), inserts the good rows of a batch set-based with their events, stores the failed rows
with a reason, and commits all of that together with the job's checkpoint (``last_row``). A crash
loses at most the batch in flight, which is redone from the checkpoint: never counted twice.

Where the time goes: validating a row and making its duplicate match keys (phone parsing, e-mail
syntax, company name keys) is pure Python. It runs once per row, in a separate process
(``prepare_batch``), while the previous batch is written: the event loop that answers HTTP and
writes the batches never waits on it. Its costliest steps have exact shortcuts (issue 18: about a
third of the CPU it took): Chinese mobile numbers are judged per 号段 block, e-mail domains
email_validator accepted are remembered, cleanco's legal forms are indexed (``legal_forms.py``),
and a name's places are weighed there too rather than on the event loop. Writing a batch is
set-based (one INSERT ... SELECT per table, one query for its duplicates); what each created
record's event costs downstream (the relay, JetStream, every consumer, search's documents) is now
more than the import's own work: services/records/README.md, "Imports: where the time goes".

Row numbers are the file's: the header is row 1, the first data row is row 2 (as Excel shows it).
Cells are never evaluated: an XLSX formula is imported as its text (``=A1+1``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import dataclasses
import io
import itertools
import logging
import multiprocessing
import os
import re
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from openpyxl.utils.exceptions import InvalidFileException

from services.records.db import contacts as contacts_store
from services.records.db import customers as customers_store
from services.records.db import imports as store
from services.records.domain import contacts as contacts_domain
from services.records.domain import custom_fields, duplicates, history, normalise
from services.records.domain import customers as customers_domain
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess, load_access
from services.records.domain.normalise import Errors
from services.records.domain.settings import RecordsSettings
from services.records.storage import FileStore
from shared.auth import Principal, PrincipalData
from shared.db import ServiceDatabase, Unit
from shared.errors import FieldError, Problem, ValidationProblem
from shared.events.envelope import Actor, Event, new_event
from shared.priority import lower_priority
from shared.tenancy import scope_for_system
from shared.workers import die_with_parent

log = logging.getLogger("huike.records.imports")

BATCH_ROWS = 1000
ON_DUPLICATE = ("skip", "update", "create")
# A CSV cell may be long (a long_text custom field), but not unbounded.
MAX_CELL = 100_000
csv.field_size_limit(MAX_CELL)
_SPLIT = re.compile(r"[;；,，、|]")


# --- entities -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What an import of one entity may fill: field -> kind (text, list, owner, customer)."""

    entity: str
    fields: Mapping[str, str]
    required: tuple[str, ...]
    # Column headers people use (Chinese and English) for each field, lower-cased.
    aliases: Mapping[str, str]


CUSTOMER = Target(
    entity="customer",
    fields={"name": "text", "kind": "text", "aliases": "list", "uscc": "text", "phone": "text", "email": "text",
            "website": "text", "industry": "text", "address": "text", "source": "text", "owner_id": "owner",
            "lifecycle_stage": "text", "tier": "text", "tags": "list", "next_follow_up_at": "text"},
    required=("name",),
    aliases={"客户名称": "name", "名称": "name", "公司名称": "name", "客户": "name", "company": "name",
             "别名": "aliases", "类型": "kind", "统一社会信用代码": "uscc", "信用代码": "uscc",
             "电话": "phone", "手机": "phone", "手机号": "phone", "phone number": "phone", "mobile": "phone",
             "邮箱": "email", "电子邮件": "email", "e-mail": "email", "网址": "website", "网站": "website",
             "行业": "industry", "地址": "address", "来源": "source", "负责人": "owner_id", "owner": "owner_id",
             "阶段": "lifecycle_stage", "生命周期": "lifecycle_stage", "级别": "tier", "等级": "tier",
             "标签": "tags", "tag": "tags", "下次跟进": "next_follow_up_at"},
)
CONTACT = Target(
    entity="contact",
    fields={"customer_id": "customer", "name": "text", "title": "text", "role_in_deal": "text", "phone": "text",
            "email": "text"},
    required=("customer_id", "name"),
    aliases={"客户id": "customer_id", "customer": "customer_id", "姓名": "name", "联系人": "name",
             "职务": "title", "职位": "title", "角色": "role_in_deal", "电话": "phone", "手机": "phone",
             "邮箱": "email", "e-mail": "email"},
)
TARGETS = {"customer": CUSTOMER, "contact": CONTACT}


# --- the file -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    format: str  # csv | xlsx
    encoding: str | None  # csv: utf-8-sig | gb18030
    delimiter: str
    header: list[str]


def _bad_file(message: str, code: str = "invalid_file") -> ValidationProblem:
    return ValidationProblem.one("file", message, code)


def _encoding_of(path: Path) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as UTF-8, else GB18030 (a superset of
    GBK, what Excel in China writes), else 422. Read in chunks: constant memory."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    if b"\x00" in chunk:
                        raise _bad_file("is not a text CSV (it holds NUL bytes; UTF-16 files must be saved as "
                                        "UTF-8 CSV)", "wrong_encoding")
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise _bad_file("is neither UTF-8 nor GB18030/GBK text; save it as CSV UTF-8", "wrong_encoding")


def _cell(value: Any) -> str:
    """A cell as text: formulas stay their text, numbers lose a spurious .0, dates are ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    # read_only streams the sheet; data_only=False gives a formula cell's text, never a result.
    # A file object, not the path: openpyxl judges a path by its extension (uploads have none).
    with open(path, "rb") as handle:
        workbook = load_workbook(handle, read_only=True, data_only=False)
        try:
            sheet = workbook.worksheets[0]
            for row in sheet.iter_rows(values_only=True):
                yield [_cell(v) for v in row]
        finally:
            workbook.close()


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[list[str]]:
    with open(path, encoding=encoding, newline="") as handle:
        yield from csv.reader(handle, delimiter=delimiter)


def rows(path: Path, info: FileInfo) -> Iterator[list[str]]:
    """Every row of the file, the header first, as lists of text cells."""
    if info.format == "xlsx":
        return _xlsx_rows(path)
    return _csv_rows(path, info.encoding or "utf-8-sig", info.delimiter)


def _blank(cells: Sequence[str]) -> bool:
    return not any(c.strip() for c in cells)


def inspect(path: Path, filename: str) -> FileInfo:
    """Format, encoding and header of an upload; 422 naming ``file`` for anything unreadable, an
    empty file or a header without data rows."""
    with open(path, "rb") as handle:
        start = handle.read(8)
    lower = filename.lower()
    if not start:
        raise _bad_file("is empty", "empty")
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        raise _bad_file("is an old Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV", "unsupported_format")
    if start.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                if "xl/workbook.xml" not in archive.namelist():
                    raise _bad_file("is a ZIP archive but not an XLSX workbook", "unsupported_format")
            info = FileInfo("xlsx", None, ",", [])
            reader = rows(path, info)
            header = next(reader, None)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
            raise _bad_file(f"is not a readable XLSX workbook ({exc})", "unsupported_format") from None
    else:
        if lower.endswith((".xlsx", ".xls", ".xlsm", ".pdf", ".doc", ".docx")):
            raise _bad_file("has an Excel/Office name but is not an XLSX workbook", "unsupported_format")
        encoding = _encoding_of(path)
        with open(path, encoding=encoding, newline="") as handle:
            sample = handle.read(64 * 1024)
        if not sample.strip():
            raise _bad_file("is empty", "empty")
        try:
            delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
        info = FileInfo("csv", encoding, delimiter, [])
        reader = rows(path, info)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise _bad_file(f"is not a readable CSV ({exc})", "unsupported_format") from None
    try:
        while header is not None and _blank(header):
            header = next(reader, None)
        if header is None:
            raise _bad_file("is empty", "empty")
        names = [normalise.text(h.replace("\ufeff", ""), 200) or "" for h in header]
        while names and not names[-1]:
            names.pop()
        names = [n or f"column {i + 1}" for i, n in enumerate(names)]
        seen = {n for n in names if names.count(n) > 1}
        if seen:
            raise _bad_file(f"has the column {sorted(seen)[0]!r} twice; column names must be unique", "duplicate_column")
        if not any(not _blank(r) for r in reader):
            raise _bad_file("has a header row but no data rows", "no_rows")
    except normalise.Invalid as exc:
        raise _bad_file(f"has a header cell that {exc.message}", "invalid_header") from None
    except csv.Error as exc:
        raise _bad_file(f"is not a readable CSV ({exc})", "unsupported_format") from None
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return FileInfo(info.format, info.encoding, info.delimiter, names)


def data_rows(path: Path, info: FileInfo, after_row: int = 1) -> Iterator[tuple[int, list[str]]]:
    """``(file row number, cells)`` of the data rows after ``after_row`` (1 = the header),
    blank rows left out."""
    for number, cells in enumerate(rows(path, info), start=1):
        if number > after_row and not _blank(cells):
            yield number, cells


def count_rows(path: Path, info: FileInfo) -> int:
    return sum(1 for _ in data_rows(path, info))


# --- the mapping ----------------------------------------------------------------------------------


def field_names(target: Target, defs: Sequence[custom_fields.Definition]) -> list[str]:
    """Every field a column may map to: the entity's and ``custom_fields.<key>`` of active definitions."""
    return [*target.fields, *(f"custom_fields.{d.key}" for d in defs if d.status == "active")]


def auto_mapping(target: Target, header: Sequence[str], defs: Sequence[custom_fields.Definition]) -> dict[str, str]:
    """Columns named like a field (its name, a usual Chinese or English header, a custom field's
    key or label) map to it; other columns are ignored."""
    known: dict[str, str] = {name: name for name in target.fields}
    known.update(target.aliases)
    for d in defs:
        if d.status == "active":
            known[d.key.lower()] = known[d.label.lower()] = f"custom_fields.{d.key}"
            known[f"custom_fields.{d.key}"] = f"custom_fields.{d.key}"
    mapping: dict[str, str] = {}
    for column in header:
        field = known.get(column.strip().lower())
        if field is not None and field not in mapping.values():
            mapping[column] = field
    return mapping


def resolve_mapping(target: Target, header: Sequence[str], mapping: Mapping[str, Any] | None,
                    defs: Sequence[custom_fields.Definition]) -> dict[str, str]:
    """``{column: field}`` for the job; 422 naming ``mapping.<column>`` for an unknown column or
    field, a field mapped twice, or a required field no column maps to."""
    automatic = auto_mapping(target, header, defs)
    if mapping is None:
        chosen = automatic
    else:
        # The given columns override the automatic mapping; the others keep it (a column mapped
        # to null or "" is ignored, and a field a given column takes is no longer filled by the
        # column the automatic mapping chose for it).
        explicit: dict[str, str] = {}
        errors: list[FieldError] = []
        allowed = set(field_names(target, defs))
        for column, field in mapping.items():
            where = f"mapping.{column}"
            if column not in header:
                errors.append(FieldError(where, "is not a column of the file", "unknown_column"))
            elif field in (None, ""):
                continue
            elif not isinstance(field, str) or field not in allowed:
                errors.append(FieldError(where, f"maps to {field!r}, which is not a field of {target.entity}",
                                         "unknown_field"))
            elif field in explicit.values():
                errors.append(FieldError(where, f"maps to {field}, which another column already fills", "duplicate"))
            else:
                explicit[column] = field
        if errors:
            raise ValidationProblem(errors)
        chosen = {column: field for column, field in automatic.items()
                  if column not in mapping and field not in explicit.values()}
        chosen.update(explicit)
        chosen = {column: chosen[column] for column in header if column in chosen}  # in file order
    missing = [f for f in target.required if f not in chosen.values()]
    if missing:
        raise ValidationProblem([FieldError("mapping", f"no column maps to the required field {f}", "required")
                                 for f in missing])
    return chosen


# --- rows -----------------------------------------------------------------------------------------


def _custom_value(definition: custom_fields.Definition, raw: str) -> Any:
    """A cell in the JSON form the custom field's validation expects (select labels become keys)."""
    kind = definition.type
    if kind == "number":
        try:
            return int(raw) if re.fullmatch(r"-?\d+", raw) else float(raw)
        except ValueError:
            return raw  # validation names the field
    if kind == "boolean":
        truth = {"true": True, "yes": True, "1": True, "是": True, "false": False, "no": False, "0": False, "否": False}
        return truth.get(raw.lower(), raw)
    labels = {o["label"]: o["key"] for o in definition.options}
    if kind == "single_select":
        return labels.get(raw, raw)
    if kind == "multi_select":
        return [labels.get(v.strip(), v.strip()) for v in _SPLIT.split(raw) if v.strip()]
    return raw


@dataclass
class Row:
    number: int
    cells: list[str]
    values: dict[str, Any]  # field -> cell text (lists split), custom values under "custom_fields"
    reason: str | None = None
    columns: dict[str, Any] | None = None  # validated columns to insert
    custom: dict[str, Any] | None = None
    keys: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # duplicate match keys of a valid row
    skipped: Twin | None = None  # the record or earlier row it duplicates, when skipped
    missing: str | None = None  # required fields the row lacks: its reason if it is to be created
    evidence: duplicates.Evidence | None = None  # what weighs a name match of a valid row (its keys, its places)


# Dates as people and spreadsheets write them: 2027-03-31, 2027/3/31 (Excel, WPS), 2027.3.31,
# 2027年3月31日, each perhaps with a time (2027/3/31 9:30, 2027-03-31T09:30:00).
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_SERIAL = re.compile(r"^\d{1,7}(?:\.\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug included)
_DATE_FIELDS = {"next_follow_up_at": "datetime"}


def date_cell(raw: str, kind: str, time_zone: str, *, serial: bool = False) -> str:
    """A date or datetime cell in the form validation expects (``kind`` date: 2027-03-31;
    datetime: RFC 3339 with the offset of ``time_zone``, midnight for a bare date). ``serial``:
    an XLSX number is an Excel serial date (46477 = 2027-03-31). Anything else is left as it is,
    for validation to name."""
    moment: datetime | None = None
    found = _DATE.match(raw)
    if found:
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in found.groups())
        try:
            moment = datetime(year, month, day, hour, minute, second)
        except ValueError:
            return raw
    elif serial and _SERIAL.match(raw) and 1 <= float(raw) < 2958466:
        moment = _EXCEL_EPOCH + timedelta(days=float(raw))
        moment = moment.replace(microsecond=0)
    if moment is None:
        return raw
    if kind == "date":
        return moment.date().isoformat()
    return moment.replace(tzinfo=ZoneInfo(time_zone)).isoformat()


def parse_row(target: Target, number: int, cells: list[str], columns: Mapping[int, str],
              defs_by_key: Mapping[str, custom_fields.Definition], *,
              time_zone: str = settings_domain.DEFAULT_TIME_ZONE, serial_dates: bool = False) -> Row:
    """The mapped cells of one row as a Create body (empty cells left out). Date cells are read
    as people write them (``date_cell``; times without an offset are the workspace's)."""
    values: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for index, field in columns.items():
        raw = cells[index].strip() if index < len(cells) else ""
        if not raw:
            continue
        if field.startswith("custom_fields."):
            key = field.split(".", 1)[1]
            definition = defs_by_key[key]
            if definition.type in ("date", "datetime"):
                raw = date_cell(raw, definition.type, time_zone, serial=serial_dates)
            custom[key] = _custom_value(definition, raw)
        elif field in _DATE_FIELDS:
            values[field] = date_cell(raw, _DATE_FIELDS[field], time_zone, serial=serial_dates)
        elif target.fields[field] == "list":
            values[field] = [v.strip() for v in _SPLIT.split(raw) if v.strip()]
        else:
            values[field] = raw
    if custom:
        values["custom_fields"] = custom
    return Row(number, cells, values)


def reason_of(errors: Sequence[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


def _required(errors: Errors, cfg: RecordsSettings, entity: str, merged: Mapping[str, Any],
              custom: Mapping[str, Any]) -> None:
    for field in cfg.required(entity):
        base, _, key = field.partition(".")
        value = custom.get(key) if base == "custom_fields" and key else merged.get(field)
        if value in (None, "", [], {}) and not any(e.field == field for e in errors.items):
            errors.add(field, "is required in this workspace", "required")


def validate_row(target: Target, row: Row, cfg: RecordsSettings, defs: Sequence[custom_fields.Definition]) -> None:
    """Fill ``row.columns``/``row.custom`` with the normalised values, or ``row.reason``.
    The same rules as the entity's POST (owner and customer references are checked per batch)."""
    values = {k: v for k, v in row.values.items() if target.fields.get(k) not in ("owner", "customer")}
    struct = customers_domain.CustomerCreate if target is CUSTOMER else contacts_domain.ContactCreate
    if target is CONTACT:
        values["customer_id"] = str(uuid.UUID(int=0))  # checked per batch; the struct needs one
    try:
        body = msgspec.convert(values, struct, strict=False)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$")
        row.reason = f"{path.rstrip('`').lstrip('.') or 'row'}: {message}"
        return
    errors = Errors()
    region = cfg.default_region
    if target is CUSTOMER:
        cols = customers_domain._columns(errors, body, None, region, cfg)  # noqa: SLF001 - the API's own rules
    else:
        cols = contacts_domain._columns(errors, body, None, region)  # noqa: SLF001
    custom, problems = custom_fields.validate_custom_values(
        defs, target.entity, row.values.get("custom_fields"), False, region=region)
    errors.extend(problems)
    if errors:
        row.reason = reason_of(errors.items)
        return
    # A required field the row lacks fails it only if it becomes a new record: a row that updates
    # a stored record (on_duplicate=update) is merged onto it, and the stored record has the field.
    missing = Errors()
    _required(missing, cfg, target.entity,
              {**cols, "phone": cols.get("primary_phone"), "email": cols.get("primary_email"),
               "owner_id": row.values.get("owner_id") or "importer"}, custom)
    row.columns, row.custom = cols, custom
    if missing:
        row.missing = reason_of(missing.items)


def writable_check(access: RecordAccess, target: Target, mapping: Mapping[str, str]) -> None:
    """403 naming the first mapped field the caller may not write (hidden or read-only)."""
    access.check_writable(target.entity, [f for f in mapping.values() if f != "customer_id"])


_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d .]*")


def csv_safe(value: str) -> str:
    """A cell for a spreadsheet: text starting with = + - @ (or a tab/CR) gets a leading ' so it
    is never run as a formula (CSV injection). A plain signed number (+8613812345678, -5) cannot
    be a formula and stays as it is."""
    if value and value[0] in "=+-@\t\r" and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def error_report_header(header: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(["row", *[csv_safe(h) for h in header], "reason"])
    return out.getvalue()


def error_report(header: Sequence[str], errors: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of failed rows: ``row``, the file's columns, ``reason``."""
    out = io.StringIO()
    writer = csv.writer(out)
    for e in errors:
        cells = list(e["raw"])
        writer.writerow([e["row_number"], *[csv_safe(str(c)) for c in cells[: len(header)]],
                         *([""] * (len(header) - len(cells))), csv_safe(e["reason"])])
    return out.getvalue()


SKIPPED_COLUMNS = ("matched_rule", "matched_record_id", "matched_row")


def skipped_report_header(header: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(["row", *[csv_safe(h) for h in header], *SKIPPED_COLUMNS])
    return out.getvalue()


def skipped_report(header: Sequence[str], skipped: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of rows skipped as duplicates: ``row``, the file's columns, the rule that matched,
    the stored record it duplicates or the earlier row of the file."""
    out = io.StringIO()
    writer = csv.writer(out)
    for e in skipped:
        cells = list(e["raw"])
        writer.writerow([e["row_number"], *[csv_safe(str(c)) for c in cells[: len(header)]],
                         *([""] * (len(header) - len(cells))), e["rule"], e["matched_id"] or "",
                         e["matched_row"] or ""])
    return out.getvalue()


def skipped_out(skipped: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Skipped rows as JSON: ``row``, ``rule``, ``matched_id`` (a stored record) or ``matched_row``."""
    return [{"row": e["row_number"], "rule": e["rule"],
             "matched_id": str(e["matched_id"]) if e["matched_id"] else None, "matched_row": e["matched_row"]}
            for e in skipped]


# --- the background run ---------------------------------------------------------------------------

MAX_ATTEMPTS = 3
_TYPES = {
    "customer": {
        "id": "uuid", "name": "text", "aliases": "text[]", "kind": "text", "uscc": "text", "phones": "jsonb",
        "emails": "jsonb", "primary_phone": "text", "primary_email": "text", "website": "text", "industry": "text",
        "address": "text", "source": "text", "owner_id": "uuid", "department_id": "uuid", "lifecycle_stage": "text",
        "tier": "text", "tags": "text[]", "custom_fields": "jsonb", "next_follow_up_at": "timestamptz",
        "created_by": "uuid", "updated_by": "uuid",
    },
    "contact": {
        "id": "uuid", "customer_id": "uuid", "name": "text", "title": "text", "role_in_deal": "text",
        "phones": "jsonb", "emails": "jsonb", "primary_phone": "text", "primary_email": "text", "owner_id": "uuid",
        "department_id": "uuid", "custom_fields": "jsonb", "created_by": "uuid", "updated_by": "uuid",
    },
}


# Column defaults of the tables (jsonb_to_recordset gives NULL for a missing key, not the default).
_DEFAULTS = {
    "customer": {"aliases": [], "kind": "company", "phones": [], "emails": [], "lifecycle_stage": "lead", "tags": [],
                 "custom_fields": {}},
    "contact": {"phones": [], "emails": [], "custom_fields": {}},
}


class LostLease(RuntimeError):
    """Another worker moved this import's checkpoint: this one stops and rolls its batch back."""


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    skipped: int = 0


def principal_of(snapshot: Mapping[str, Any], tenant_id: uuid.UUID) -> Principal:
    """The caller's permissions as they were when the job was asked for (kept with the job)."""
    return Principal(msgspec.convert(snapshot, PrincipalData), scope_for_system(tenant_id))


def snapshot_of(access: RecordAccess) -> dict[str, Any]:
    return msgspec.to_builtins(access.principal.data)


def info_of(job: Mapping[str, Any]) -> FileInfo:
    return FileInfo(job["file_format"], job["encoding"], job["delimiter"], list(job["header"]))


def prepare_batch(entity: str, batch: list[tuple[int, list[str]]], columns: Mapping[int, str],
                  defs: Sequence[custom_fields.Definition], cfg: RecordsSettings,
                  file_format: str = "csv") -> list[Row]:
    """Parse and validate a batch of ``(row number, cells)`` and key its valid rows for duplicates,
    each once: the CPU part of an import (it runs in the validation process). In an XLSX file a
    number in a date field is an Excel serial date."""
    target = TARGETS[entity]
    by_key = {d.key: d for d in defs}
    parsed = []
    for number, cells in batch:
        row = parse_row(target, number, cells, columns, by_key, time_zone=cfg.time_zone,
                        serial_dates=file_format == "xlsx")
        validate_row(target, row, cfg, defs)
        if row.columns is not None:
            row.keys = duplicates.match_keys(entity, _candidate(row), cfg.default_region, normalised=True)
            row.evidence = duplicates.evidence(row.keys, _names(row))
        parsed.append(row)
    return parsed


async def _references(unit: Unit, access: RecordAccess, target: Target, rows: list[Row]) -> None:
    """Owner (customers: a user id or e-mail, default the importer) and customer (contacts) of
    each row, set-based; a row naming an unknown or invisible one fails."""
    if target is CUSTOMER:
        wanted = [r.values["owner_id"].strip() for r in rows if r.columns is not None and r.values.get("owner_id")]
        ids = [uuid.UUID(w) for w in wanted if _is_uuid(w)]
        users = await store.directory_users(unit, ids, [w.lower() for w in wanted if not _is_uuid(w)])
        by_key = {str(u["id"]): u for u in users} | {u["email"]: u for u in users}
        me = next((u for u in users if u["id"] == access.user_id), None)
        may_transfer = access.can("customer", "transfer")
        for row in rows:
            if row.columns is None:
                continue
            given = row.values.get("owner_id")
            user = by_key.get(given.strip().lower() if not _is_uuid(given.strip()) else str(uuid.UUID(given.strip()))) \
                if given else None
            if not given or (user is not None and user["id"] == access.user_id):
                department = me["department_id"] if me is not None else access.department_id
                row.columns.update(owner_id=access.user_id, department_id=department)
            elif user is None or user["status"] != "active":
                row.reason = f"owner_id: {given} is not an active user of this workspace"
            elif not may_transfer:
                row.reason = "owner_id: your role may not make another user the owner (transfer)"
            else:
                row.columns.update(owner_id=user["id"], department_id=user["department_id"])
    else:
        wanted_ids = {r.values["customer_id"].strip() for r in rows if r.columns is not None}
        found = await store.customers_of(unit, [uuid.UUID(w) for w in wanted_ids if _is_uuid(w)])
        customers = {str(c["id"]): c for c in found if access.visible("customer", c)}
        for row in rows:
            if row.columns is None:
                continue
            raw = row.values["customer_id"].strip()
            customer = customers.get(str(uuid.UUID(raw))) if _is_uuid(raw) else None
            if customer is None:
                row.reason = f"customer_id: no such customer: {raw}"
            else:
                row.columns.update(customer_id=customer["id"], owner_id=customer["owner_id"],
                                   department_id=customer["department_id"])


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def _candidate(row: Row) -> dict[str, Any]:
    cols = row.columns or {}
    return {k: cols.get(k) for k in ("name", "aliases", "uscc", "phones", "emails")}


@dataclass(frozen=True)
class Twin:
    """What a row duplicates: a stored record (``record_id``) or an earlier row of the file
    (``row``), and the rule that matched (``phone``, ``email``, ``uscc``, ``name``; exact rules
    joined with +)."""

    rule: str
    record_id: uuid.UUID | None = None
    row: int | None = None


def _names(row: Row) -> list[Any]:
    cols = row.columns or {}
    return [cols.get("name"), *(cols.get("aliases") or [])]


async def _duplicates(unit: Unit, target: Target, rows: list[Row], cfg: RecordsSettings) -> dict[int, Twin]:
    """For each valid row that duplicates a live stored record or an earlier row of this batch:
    row number -> its ``Twin``. A duplicate is an exact match under the tenant's rules that are
    not off (phone, e-mail, USCC) or the same company name key (名称 without legal form and city:
    杭州西湖茶叶有限公司 = 西湖茶叶) with nothing against it (``duplicates.name_conflict``: a
    different USCC, phones none of which is shared, another city: 宁波瑞鑫物流 is not 温州瑞鑫物流);
    fuzzy name similarity only warns on single writes and is not used here. The rows' keys were
    made once, in validation; one query per batch finds the stored records holding any of them."""
    valid = [r for r in rows if r.columns is not None]
    stored_rules = await duplicates.rules(unit)
    active = {r for r in ("phone", "email", "uscc") if stored_rules.action(r, cfg.duplicate_rule) != "off"}
    if target is CUSTOMER and stored_rules.name != "off":
        active.add("name")
    keys = {row.number: [k for k in row.keys if k[0] in active] for row in valid}
    # Weighed in validation (the places a name carries cost as much to find as its key).
    weighed = {row.number: row.evidence or duplicates.evidence(row.keys, _names(row)) for row in valid}
    wanted = [(i, kind, key) for i, row in enumerate(valid) for kind, key in keys[row.number]]
    found = await store.live_matches(unit, target.entity, [w[0] for w in wanted], [w[1] for w in wanted],
                                     [w[2] for w in wanted])
    # Per row: the stored record matching the most exact rules (then the oldest), else the
    # oldest live customer with one of the row's name keys and nothing against it.
    exact: dict[int, dict[uuid.UUID, tuple[set[str], Any]]] = {}
    by_name: dict[int, uuid.UUID] = {}
    for match in found:
        if match["kind"] == "name":
            if match["idx"] not in by_name and duplicates.match_stands(weighed[valid[match["idx"]].number], match):
                by_name[match["idx"]] = match["record_id"]
        else:
            kinds, _ = exact.setdefault(match["idx"], {}).setdefault(match["record_id"], (set(), match["created_at"]))
            kinds.add(match["kind"])
    answer: dict[int, Twin] = {}
    seen: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(valid):
        candidates = exact.get(i)
        if candidates:
            record_id, (kinds, _) = min(candidates.items(), key=lambda c: (-len(c[1][0]), c[1][1], c[0]))
            answer[row.number] = Twin("+".join(k for k in duplicates.RULES if k in kinds), record_id=record_id)
            continue
        if i in by_name:
            answer[row.number] = Twin("name", record_id=by_name[i])
            continue
        earlier = next(((key[0], number) for key in keys[row.number] for number in seen.get(key, ())
                        if key[0] != "name" or duplicates.name_conflict(weighed[row.number], weighed[number]) is None),
                       None)
        if earlier is not None:
            answer[row.number] = Twin(earlier[0], row=earlier[1])
        else:
            for key in keys[row.number]:
                seen.setdefault(key, []).append(row.number)
    return answer


async def _update_existing(unit: Unit, access: RecordAccess, target: Target, row: Row, record_id: uuid.UUID) -> None:
    """Apply a duplicate row to the record it matches through the entity's own update (history,
    events, rules), in a savepoint so a refused row leaves the batch intact."""
    values = {k: v for k, v in row.values.items() if k != "customer_id"}
    try:
        async with unit.conn.transaction():
            if target is CUSTOMER:
                body = msgspec.convert(values, customers_domain.CustomerPatch, strict=False)
                if body.owner_id is not msgspec.UNSET:
                    body.owner_id = row.columns["owner_id"] if row.columns else body.owner_id
                await customers_domain.update(unit, access, record_id, body, None)
            else:
                await contacts_domain.update(unit, access, record_id,
                                             msgspec.convert(values, contacts_domain.ContactPatch, strict=False), None)
    except (Problem, msgspec.ValidationError) as exc:
        errors = getattr(exc, "errors", None)
        row.reason = f"duplicate of {record_id}, not updated: " + (reason_of(errors) if errors else str(
            getattr(exc, "detail", exc)))


def _event(target: Target, record: dict[str, Any], actor: Actor, cfg: RecordsSettings, tenant_id: uuid.UUID,
           import_id: str) -> Event:
    customer_id = record["id"] if target is CUSTOMER else record["customer_id"]
    # The record as it is: encoding the event writes uuids and times exactly as history.jsonable
    # would, in the same pass.
    data = {
        "record": record, "owner_id": history.jsonable(record.get("owner_id")),
        "department_id": history.jsonable(record.get("department_id")),
        "sensitive_fields": history.sensitive_present(cfg, target.entity, record),
        "customer_id": str(customer_id),
        # Consumers may treat imported records apart (search indexes them on its bulk lane, so
        # people's own writes stay searchable at once while an import runs).
        "import_id": import_id,
    }
    return new_event(service="records", tenant_id=tenant_id, entity=target.entity, action="created",
                     entity_id=record["id"], actor=actor, data=data, version=record["version"])


async def _insert(unit: Unit, access: RecordAccess, target: Target, rows: list[Row], cfg: RecordsSettings,
                  defs: Sequence[custom_fields.Definition], import_id: str) -> int:
    """Insert the rows set-based with their unique values, match keys and events; answers how many."""
    for row in rows:
        row.columns = {**(row.columns or {}), "id": uuid.uuid4(), "custom_fields": row.custom or {},
                       "created_by": access.user_id, "updated_by": access.user_id}
    unique = [d.key for d in defs if d.unique]
    claims = [(r.columns["id"], key, custom_fields.unique_form(r.custom[key]))
              for r in rows for key in unique if r.custom and r.custom.get(key) is not None]
    lost = await store.claim_unique(unit, target.entity, claims)
    for row in rows:
        if row.columns["id"] in lost:
            row.reason = "custom_fields: another record already has one of this row's unique values"
    good = [r for r in rows if r.reason is None]
    if not good:
        return 0
    types = _TYPES[target.entity]
    defaults = _DEFAULTS[target.entity]
    payload = [{**defaults, **{k: v for k, v in r.columns.items() if k in types and v is not None}} for r in good]
    if target is CUSTOMER:
        inserted = await store.insert_records(unit, "customers", customers_store.COLUMNS, payload, types)
        records = [customers_domain.record_of(r) for r in inserted]
    else:
        inserted = await store.insert_records(unit, "contacts", contacts_store.COLUMNS, payload, types)
        records = [contacts_domain.record_of(r) for r in inserted]
    # The keys validation made from the same normalised columns the records now hold.
    await store.insert_match_keys(unit, target.entity, [(r.columns["id"], kind, key) for r in good
                                                        for kind, key in r.keys])
    await unit.write_events([_event(target, rec, access.actor, cfg, unit.tenant_id, import_id) for rec in records],
                            bulk=True)
    return len(records)


async def process_batch(unit: Unit, access: RecordAccess, job: Mapping[str, Any], rows: list[Row],
                        cfg: RecordsSettings, defs: Sequence[custom_fields.Definition]) -> Outcome:
    """Write one batch (validated rows) in the caller's unit: duplicates per ``on_duplicate``,
    inserts, updates; failed rows get their ``reason``. A dry run rolls every record write back
    (a savepoint) so it reports exactly what a real run would."""
    target = TARGETS[job["entity"]]
    outcome = Outcome()
    await _references(unit, access, target, rows)
    matched: dict[int, Twin] = {}
    if job["on_duplicate"] != "create":
        matched = await _duplicates(unit, target, rows, cfg)
    savepoint = unit.conn.transaction()
    await savepoint.start()
    try:
        fresh: list[Row] = []
        for row in rows:
            if row.reason is not None or row.columns is None:
                continue
            twin = matched.get(row.number)
            if twin is None and row.missing is not None:
                row.reason = row.missing
            elif twin is None:
                fresh.append(row)
            elif twin.record_id is None or job["on_duplicate"] == "skip":
                outcome.skipped += 1
                row.skipped = twin
            else:
                await _update_existing(unit, access, target, row, twin.record_id)
                outcome.updated += row.reason is None
        outcome.created = await _insert(unit, access, target, fresh, cfg, defs, str(job["id"]))
    except BaseException:
        await savepoint.rollback()
        raise
    if job["dry_run"]:
        await savepoint.rollback()
    else:
        await savepoint.commit()
    return outcome


def _read_batch(reader: Iterator[tuple[int, list[str]]], size: int) -> list[tuple[int, list[str]]]:
    """The next ``size`` data rows of the file (file I/O: run it in a thread)."""
    return list(itertools.islice(reader, size))


_pool: ProcessPoolExecutor | None = None


def _init_validator(parent_pid: int) -> None:
    die_with_parent(parent_pid)  # a SIGKILL of the server must not leave it behind
    lower_priority()


def _validation_pool() -> ProcessPoolExecutor:
    """The process that validates import rows, started on first use and kept. Validation is pure
    Python (phone numbers, e-mail syntax, company name keys): in a thread it would hold the GIL
    the event loop needs to answer HTTP and to write the batches. Spawned, not forked: forking a
    process that runs threads and an event loop can copy held locks. At a lower CPU priority
    (shared/priority.py): it is background work, and it would otherwise take a core's share from
    the process answering requests."""
    global _pool  # noqa: PLW0603 - one per process, like a connection pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_init_validator, initargs=(os.getpid(),))
    return _pool


async def _prepared(reader: Iterator[tuple[int, list[str]]], entity: str, columns: Mapping[int, str],
                    defs: Sequence[custom_fields.Definition], cfg: RecordsSettings,
                    file_format: str = "csv") -> list[Row]:
    """Read the next ``BATCH_ROWS`` rows and validate them in the validation process."""
    global _pool  # noqa: PLW0603
    batch = await asyncio.to_thread(_read_batch, reader, BATCH_ROWS)
    if not batch:
        return []
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_validation_pool(), prepare_batch, entity, batch, columns, defs, cfg,
                                          file_format)
    except BrokenProcessPool:
        # The validation process died (killed, out of memory): a new one validates this batch again.
        log.warning("the import validation process died; starting another")
        _pool = None
        return await loop.run_in_executor(_validation_pool(), prepare_batch, entity, batch, columns, defs, cfg,
                                          file_format)


async def run(db: ServiceDatabase, files: FileStore, tenant_id: uuid.UUID, import_id: uuid.UUID, *,
              attempts: int, lease_seconds: float) -> bool:
    """Run (or resume, after the last committed batch) one import to its end. False when another
    worker took the job over meanwhile: the lease is that worker's now, the caller leaves it alone."""
    scope = scope_for_system(tenant_id)
    async with db.tenant_unit(scope) as unit:
        job = await store.get(unit, import_id)
    if job is None or job["status"] in ("succeeded", "failed"):
        return True
    principal = principal_of(job["principal"], tenant_id)
    if attempts > MAX_ATTEMPTS:
        await _end(db, files, job, principal, "failed",
                   f"stopped after {MAX_ATTEMPTS} attempts: the worker kept stopping at row {job['last_row'] + 1}")
        return True
    try:
        await _run(db, files, job, principal, lease_seconds)
    except LostLease:
        log.warning("import %s: another worker took it over", import_id)
        return False
    except Exception as exc:  # noqa: BLE001 - the job fails cleanly, with its committed batches kept
        log.exception("import %s failed", import_id)
        await _end(db, files, job, principal, "failed", f"stopped at an unexpected error: {exc}")
    return True


async def _run(db: ServiceDatabase, files: FileStore, job: Mapping[str, Any], principal: Principal,
               lease_seconds: float) -> None:
    scope = principal.scope
    target = TARGETS[job["entity"]]
    async with db.tenant_unit(scope) as unit:
        access = await load_access(unit, principal)
        cfg = await settings_domain.get(unit)
        defs = await custom_fields.definitions(unit, target.entity)
    header = list(job["header"])
    columns = {header.index(column): field for column, field in job["mapping"].items()}
    info = info_of(job)
    async with files.local_copy(job["file_key"]) as path:
        if job["status"] == "queued":
            total = await asyncio.to_thread(count_rows, path, info)
            async with db.tenant_unit(scope) as unit:
                await store.start(unit, job["id"], total)
        last_row = job["last_row"]
        reader = data_rows(path, info, last_row)
        # Read and validate the next batch while this one is written (a pipeline of two).
        upcoming = asyncio.ensure_future(_prepared(reader, target.entity, columns, defs, cfg, info.format))
        statistics = _Statistics(db, target.entity)
        try:
            while batch := await upcoming:
                upcoming = asyncio.ensure_future(_prepared(reader, target.entity, columns, defs, cfg, info.format))
                last_row, created = await _commit_batch(db, scope, access, job, batch, cfg, defs, last_row,
                                                        lease_seconds)
                await statistics.grown(created)
        finally:
            if not upcoming.done():
                upcoming.cancel()
                with contextlib.suppress(BaseException):
                    await upcoming
    await _end(db, files, job, principal, "succeeded")


async def _commit_batch(db: ServiceDatabase, scope: Any, access: RecordAccess, job: Mapping[str, Any],
                        batch: list[Row], cfg: RecordsSettings, defs: Sequence[custom_fields.Definition],
                        last_row: int, lease_seconds: float) -> tuple[int, int]:
    """Write one batch with its failed rows and the checkpoint, in one transaction; the new
    checkpoint and how many records the batch created."""
    async with db.tenant_unit(scope, background=True) as unit:
        outcome = await process_batch(unit, access, job, batch, cfg, defs)
        failed = [(r.number, r.cells, r.reason) for r in batch if r.reason is not None]
        await store.add_errors(unit, job["id"], failed)
        await store.add_skipped(unit, job["id"], [(r.number, r.cells, r.skipped.rule, r.skipped.record_id, r.skipped.row)
                                                  for r in batch if r.skipped is not None and r.reason is None])
        moved = await store.checkpoint(
            unit, job["id"], from_row=last_row, to_row=batch[-1].number, done=len(batch), failed=len(failed),
            created=outcome.created, updated=outcome.updated, skipped=outcome.skipped)
        if not moved:
            raise LostLease(str(job["id"]))
        await store.renew(unit, unit.tenant_id, "import", job["id"], lease_seconds)
    return batch[-1].number, 0 if job["dry_run"] else outcome.created


class _Statistics:
    """Keeps the planner's picture of the tables an import grows close to the truth: ANALYZE once
    the import has created ``BATCH_ROWS`` records, then each time its count has doubled (about ten
    times for a million rows, each well under a second). Between the refreshes the tenant is at
    most twice as big as the planner believes; without them a freshly imported tenant's duplicate
    checks read all of its name keys (db/grants.sql)."""

    def __init__(self, db: ServiceDatabase, entity: str) -> None:
        self.db, self.entity = db, entity
        self.created, self.next_at = 0, BATCH_ROWS

    async def grown(self, created: int) -> None:
        self.created += created
        if self.created < self.next_at:
            return
        self.next_at = self.created * 2
        try:
            async with self.db.system_unit(background=True) as unit:
                await store.refresh_statistics(unit, self.entity)
        except Exception:  # noqa: BLE001 - statistics are an optimisation: the import goes on without them
            log.warning("import: ANALYZE of the %s tables failed", self.entity, exc_info=True)


async def _end(db: ServiceDatabase, files: FileStore, job: Mapping[str, Any], principal: Principal, status: str,
               error: str | None = None) -> None:
    """Finish the job, audit it, take it off the queue and drop the upload (the errors stay)."""
    async with db.tenant_unit(principal.scope) as unit:
        await store.finish(unit, job["id"], status, error)
        final = await store.get(unit, job["id"])
        await history.audit(unit, f"{job['entity']}.import", job["entity"], None, actor=principal.actor, details={
            "import_id": str(job["id"]), "file_name": job["file_name"], "status": status,
            "dry_run": job["dry_run"], "on_duplicate": job["on_duplicate"],
            **{k: final[k] for k in ("rows_total", "rows_done", "rows_failed", "rows_created", "rows_updated",
                                     "rows_skipped")},
        })
        await store.done(unit, unit.tenant_id, "import", job["id"])
        # For the notifications service: whoever started the import is told how it ended.
        await unit.emit("import", "finished" if status == "succeeded" else "failed", job["id"], actor=principal.actor,
                        data=history.jsonable({
                            "user_id": principal.user_id, "entity": job["entity"], "file_name": job["file_name"],
                            "dry_run": job["dry_run"], "status": status, "error": error,
                            **{k: final[k] for k in ("rows_total", "rows_done", "rows_failed")}}))
    await files.delete(job["file_key"])
