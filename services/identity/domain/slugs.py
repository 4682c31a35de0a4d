"""Tenant slugs: short, URL-safe, lower-case names of a workspace, used to log in.

Made from the company name: Chinese characters become pinyin (each run of characters one word,
so 汇客科技 -> ``huikekeji``, 汇客 科技 -> ``huike-keji``), Latin letters lose their accents,
anything else separates words. Legal-form suffixes (有限公司, Co., Ltd., GmbH, ...) are dropped
since they say nothing about the company. A generated slug that is taken gets a short random
suffix; a slug the client chose is either free or refused.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from pypinyin import lazy_pinyin

MIN_LENGTH = 3
MAX_LENGTH = 40
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
RESERVED = frozenset(
    "admin administrator api app apps auth console dashboard docs help huike login logout me operator "
    "platform root schema signup static status support system tenant tenants www mail".split()
)
_LEGAL_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "集团公司", "公司",
)
_LATIN_SUFFIXES = re.compile(
    r"[\s,.]+(co\.?,?\s*ltd\.?|co\.?|ltd\.?|limited|inc\.?|llc|gmbh|s\.?a\.?|corp\.?|corporation|company)\s*$",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)


def slug_problem(slug: str) -> str | None:
    """Why a client-chosen slug is not acceptable, or None."""
    if not MIN_LENGTH <= len(slug) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    if not SLUG.match(slug) or "--" in slug:
        return "may contain only lower-case letters, digits and single hyphens, not at the start or end"
    if slug in RESERVED:
        return "is reserved; choose another"
    return None


def slug_from_name(name: str) -> str:
    """The preferred slug for a company name (never empty, always valid)."""
    text = name.strip()
    for suffix in _LEGAL_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    text = _LATIN_SUFFIXES.sub("", text) or text
    # Each run of Chinese characters becomes one pinyin word, set apart from its neighbours.
    text = _CJK.sub(lambda m: " " + "".join(lazy_pinyin(m.group(0))) + " ", text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    slug = slug[:MAX_LENGTH].rstrip("-")
    if len(slug) < MIN_LENGTH or slug in RESERVED:
        slug = (slug + "-" if slug else "tenant-") + random_suffix()
    return slug


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def with_suffix(slug: str) -> str:
    """A variant of a taken slug: ``acme`` -> ``acme-x7k2p``."""
    suffix = random_suffix()
    return slug[: MAX_LENGTH - len(suffix) - 1].rstrip("-") + "-" + suffix
