"""Normalising what people type: e-mail addresses, phone numbers, names, locales.

Each function returns the normal form or raises a 422 naming the field, so a handler validates
everything before it writes anything.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shared.errors import ValidationProblem

_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{4})?(-([A-Z]{2}|[0-9]{3}))?$")


def normalise_email(value: str, field: str = "email") -> str:
    """Trimmed, syntax-checked (no DNS look-up), lower-case: one address, one account."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationProblem.one(field, f"is not a valid e-mail address: {exc}", "invalid_email") from None


def normalise_phone(value: str, region: str, field: str = "phone") -> str:
    """E.164 (+8613812345678); numbers without a country code are read in the tenant's region."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationProblem.one(field, f"is not a valid phone number (region {region})", "invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_name(value: str, field: str = "name") -> str:
    """Names keep their script (汉字 or Latin); only surrounding and repeated spaces go."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationProblem.one(field, "must not contain control characters", "invalid")
    name = " ".join(value.split())
    if not name:
        raise ValidationProblem.one(field, "must not be blank", "blank")
    return name


def check_locale(value: str, field: str = "locale") -> str:
    if not _LOCALE.match(value):
        raise ValidationProblem.one(field, "must be a language tag like zh-CN or en-US", "invalid_locale")
    return value
