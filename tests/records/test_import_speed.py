"""The shortcuts that make import validation fast answer exactly what the slow libraries answer:
cleanco's legal forms, libphonenumber's Chinese mobile numbers, email_validator's addresses."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from cleanco import basename as cleanco_basename
from cleanco.clean import normalized as cleanco_normalized
from cleanco.clean import prepare_default_terms
from email_validator import EmailNotValidError, validate_email

from services.records.domain import legal_forms, normalise


def _names(rng: random.Random) -> list[str]:
    forms = [" ".join(parts) for _, parts in prepare_default_terms()]
    words = ["Acme", "Globex", "科技", "Holding", "Group", "de", "&", "Co.,", "Ltd.", "Inc", "GmbH", "AG", "S.A.",
             "LLC", "Company", "Limited", "有限公司", "Pty", "Sp.", "z", "o.o.", "Oy", "CO.,LTD", "Corp.", "Müller",
             "Société", "Générale", "ＴＥＮＣＥＮＴ", "-", ",", "."]
    names = [f"Foo {form}" for form in forms] + [f"Bar {form.upper()} {rng.choice(forms)}" for form in forms]
    names += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(5000)]
    names += ["杭州王氏科技有限公司12", "Acme 科技 Co., Ltd. 7", "深圳市腾讯计算机系统有限公司", "", "   ", "Ltd."]
    return names


def test_legal_forms_are_removed_exactly_as_cleanco_does() -> None:
    rng = random.Random(18)
    for name in _names(rng):
        assert legal_forms.basename(name) == cleanco_basename(name), name
    alphabet = [chr(c) for c in range(0x20, 0x3000)] + [chr(c) for c in range(0x1D400, 0x1D480)]
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert legal_forms.normalized(text) == cleanco_normalized(text), repr(text)


def _libphonenumber(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ours(value: str, region: str = "CN") -> str | None:
    try:
        return normalise.phone(value, region)
    except normalise.Invalid:
        return None


def test_chinese_mobile_numbers_read_as_libphonenumber_reads_them() -> None:
    """Every five-digit prefix 13000-19999 (what libphonenumber's CN pattern looks at), with
    several numbers of one block after another, so the remembered block answers the later ones."""
    rng = random.Random(7)
    normalise._CN_BLOCKS.clear()  # noqa: SLF001 - start from an empty memory
    for prefix in range(13000, 20000):
        block = str(prefix) + str(rng.randrange(100)).zfill(2)
        for _ in range(2):
            value = block + str(rng.randrange(10_000)).zfill(4)
            assert _ours(value) == _libphonenumber(value), value
    for value in ("1381234567", "138123456789", "138 1234 5678", "+8613812345678", "12345", "10012345678",
                  "17912345678", "11012345678"):
        assert _ours(value) == _libphonenumber(value), value
    assert _ours("13812345678") == "+8613812345678"
    assert _ours("14012345678") is None  # 140 is no mobile block: refused, also when remembered
    assert _ours("14012349999") is None
    assert _ours("13812345678", "US") is None  # another region still parses in full


def _validator(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _email(value: str) -> str | None:
    try:
        return normalise.email(value)
    except normalise.Invalid:
        return None


@pytest.mark.parametrize("value", [
    "a@example.com", "Zhang.San@Example.COM", "x+tag@qq.com", "a..b@example.com", ".a@example.com",
    "a.@example.com", "a b@example.com", "\"quoted\"@example.com", "a@b@example.com", "a@localhost",
    "a@example.test", "a@[1.2.3.4]", "a@-bad.com", "a@bad-.com", "a@example..com", "Name <a@example.com>",
    "用户@example.com", "a@例子.中国", "a@EXAMPLE.com ", " a@example.com", "a@example.123", "@example.com",
    "a" * 70 + "@example.com", "a@" + "b" * 250 + ".com", "a" * 240 + "@example.com", "a" * 250 + "@example.com",
    "not-an-email",
])
def test_email_addresses_read_as_email_validator_reads_them(value: str) -> None:
    """Each address twice: the second time its domain may be remembered."""
    normalise._DOMAINS.update({"example.com", "EXAMPLE.com"})  # noqa: SLF001 - as if seen before
    assert _email(value) == _validator(value)
    assert _email(value) == _validator(value)
