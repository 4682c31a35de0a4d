"""Normalising what people type into records: phones (E.164), e-mails, names and text, URLs and
the unified social credit code (统一社会信用代码, GB 32100-2015).

Each normaliser returns the normal form or raises ``Invalid``; ``Errors`` collects the failures of
a whole request so that one 422 names every bad field at once::

    errors = Errors()
    name = errors.check("name", normalise.name, body.name)
    phone = errors.check("phone", normalise.phone, body.phone, settings.default_region)
    errors.raise_if_any()
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shared.errors import FieldError, ValidationProblem

T = TypeVar("T")

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); the last is a check character.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(rf"^[{USCC_ALPHABET}]{{18}}$")


class Invalid(ValueError):
    """A value that cannot be normalised; ``message`` completes "<field> ..."."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Errors:
    """Collects field errors of one request; ``raise_if_any`` answers them all in one 422."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str, code: str = "invalid") -> None:
        self.items.append(FieldError(field, message, code))

    def extend(self, errors: list[FieldError]) -> None:
        self.items.extend(errors)

    def check(self, field: str, normaliser: Callable[..., T], *args: Any) -> T | None:
        """``normaliser(*args)``, or None with the error recorded under ``field``."""
        try:
            return normaliser(*args)
        except Invalid as exc:
            self.add(field, exc.message, exc.code)
            return None

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationProblem(list(self.items))


def _reject_control(value: str, *, multiline: bool = False) -> None:
    if value.isprintable():  # no Cc or Cf character in it (both are non-printable): the usual case, in C
        return
    allowed = {"\n", "\t", "\r"} if multiline else set()
    for c in value:
        if c not in allowed and unicodedata.category(c) in ("Cc", "Cf") and c not in ("\u200d",):
            raise Invalid("must not contain control characters", "control_characters")


def text(value: str, max_length: int = 500, *, multiline: bool = False) -> str | None:
    """Trimmed text without control characters (``multiline`` allows newlines and tabs); blank
    becomes None."""
    _reject_control(value, multiline=multiline)
    cleaned = value.strip() if multiline else " ".join(value.split())
    if len(cleaned) > max_length:
        raise Invalid(f"must be at most {max_length} characters", "too_long")
    return cleaned or None


def name(value: str, max_length: int = 200) -> str:
    """A required name: keeps its script (汉字 or Latin), collapses spaces, must not be blank."""
    cleaned = text(value, max_length)
    if cleaned is None:
        raise Invalid("must not be blank", "blank")
    return cleaned


def phone(value: str, region: str) -> str:
    """E.164 (+8613812345678); numbers without a country code are read in ``region``."""
    _reject_control(value)
    fast = _cn_mobile(value) if region == "CN" else None
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise Invalid(f"is not a valid phone number (numbers without +country code are read as {region})",
                      "invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Parsing a phone number costs about half a millisecond, and an import has one per row. A Chinese
# mobile number as people write it (11 digits, 1[3-9]...) is valid or not by its first digits
# (libphonenumber's CN pattern looks at five; its 号段 block has seven), so the first number of a
# block is parsed and the answer kept for the block. tests/records/test_import_speed.py compares
# this with libphonenumber on every five-digit prefix.
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_CN_BLOCKS: dict[str, bool] = {}
_MAX_BLOCKS = 100_000


def _cn_mobile(value: str) -> str | None:
    """``value`` in E.164 if it is a valid Chinese mobile number written as 11 bare digits; None
    when it is not that simple (the caller parses it)."""
    if len(value) != 11 or not _CN_MOBILE.fullmatch(value):
        return None
    block = value[:7]
    valid = _CN_BLOCKS.get(block)
    if valid is None:
        try:
            number = phonenumbers.parse(value, "CN")
        except phonenumbers.NumberParseException:
            return None
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if formatted != "+86" + value:
            return None
        valid = phonenumbers.is_valid_number(number)
        if len(_CN_BLOCKS) >= _MAX_BLOCKS:
            _CN_BLOCKS.clear()
        _CN_BLOCKS[block] = valid
    return "+86" + value if valid else None


def email(value: str) -> str:
    """Trimmed, syntax-checked (no DNS look-up), lower-case."""
    _reject_control(value)
    stripped = value.strip()
    local, at, domain = stripped.rpartition("@")
    if at and len(stripped) <= 254 and domain in _DOMAINS and _PLAIN_LOCAL.fullmatch(local):
        return stripped.lower()
    try:
        checked = validate_email(stripped, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"is not a valid e-mail address: {exc}", "invalid_email") from None
    if (domain.isascii() and checked.domain == domain.lower() and checked.local_part == local
            and _PLAIN_LOCAL.fullmatch(local)):
        if len(_DOMAINS) >= _MAX_DOMAINS:
            _DOMAINS.clear()
        _DOMAINS.add(domain)
    return checked.normalized.lower()


# email_validator checks the part after the @ (labels, IDNA, special-use names) for most of its
# half millisecond, and the domain of an address decides nothing about its local part. A domain
# it accepted is remembered (as written), so another address at it needs only its local part
# checked: one of the plain ASCII forms its dot-atom rule accepts as it is (letters, digits, _ + -,
# single dots inside), the whole at most 254 characters, as email_validator counts them.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_DOMAINS: set[str] = set()
_MAX_DOMAINS = 10_000


def url(value: str) -> str:
    """An http(s) URL; a bare host like ``example.com`` gets ``https://``."""
    cleaned = text(value, 2000)
    if cleaned is None:
        raise Invalid("must not be blank", "blank")
    if "://" not in cleaned:
        cleaned = "https://" + cleaned
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname or " " in cleaned:
        raise Invalid("is not a web address (http or https)", "invalid_url")
    return cleaned


def uscc_check_character(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc(value: str) -> str:
    """A unified social credit code: 18 characters, upper case, valid check character."""
    code = value.strip().upper()
    if not _USCC_SHAPE.match(code):
        raise Invalid("must be 18 characters of digits and capital letters other than I, O, S, V and Z",
                      "invalid_uscc")
    if uscc_check_character(code[:17]) != code[17]:
        raise Invalid("has a wrong check character (GB 32100-2015); check for a typo", "invalid_uscc")
    return code
