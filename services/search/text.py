"""Text normalisation shared by both engines: what a field indexes and what a query looks for.

Neither engine segments Chinese finely enough nor knows pinyin, so the service does it for both:
a field value becomes *lexemes* (plain strings compared exactly or by prefix):

* primary: Latin words, e-mail addresses with their local part and domain, domains, jieba
  search-mode segments of Chinese runs (深圳市腾讯计算机系统有限公司 → 深圳, 腾讯, 计算机, 有限公司...);
* derived: every two-character window and every character of a Chinese run (so 处理 finds 待处理
  whatever the dictionary says), the pinyin of each segment in full (``tengxun``) and initials
  (``tx``), each syllable (``teng``, ``xun``), the pinyin and initials of a whole run (prefix typing);
* phones: E.164 digits, national digits, and a tagged last-four lexeme that only a phone search
  (``phone:8000``) asks for.

A query becomes ``Term``s, all of which must match; a term matches when one of its alternatives
does. Text is NFKC-normalised (full-width → half-width) and lower-cased on both sides.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import jieba
import phonenumbers
import re2
from pypinyin import lazy_pinyin

jieba.setLogLevel(logging.WARNING)

MAX_QUERY_CHARS = 200
MAX_TERMS = 10
MAX_TOKEN = 64
MAX_FIELD_CHARS = 20_000  # longer field values are indexed by their beginning
CACHED_CHARS = 120  # text values up to this long keep their lexemes in a cache
MAX_RUN_PINYIN = 24  # whole-run pinyin for runs up to this long (prefix typing of a name)
LAST4_PREFIX = "phonelast4x"  # one alphanumeric word, so Meilisearch keeps it whole as well
DEFAULT_REGION = "CN"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_IS_CJK = re.compile(f"^[{_CJK}]+$")
_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+")
# RE2 (linear time): with Python's ``re`` a long run of letters without an @ costs time quadratic
# in its length (0.2 s for one 20,000-character field, in the request that highlights it).
_EMAIL = re2.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_DOMAIN = re.compile(r"(?<![\w@.-])(?:[a-z0-9-]+\.)+[a-z]{2,}(?![\w-])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE_QUERY = re.compile(r"^\+?[\d\s\-().]{7,25}$")
_PHONE_TAG = re.compile(r"^(?:phone|tel|电话|手机):\s*(?P<value>.+)$")


def warm_up() -> None:
    """Load jieba's dictionary and pypinyin's tables now (about a second), not on the first event."""
    jieba.initialize()
    lazy_pinyin("汇客")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower-case, no control characters."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFKC", text)).lower()


@lru_cache(maxsize=20_000)
def _pinyin(word: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(word, errors="ignore"))


def pinyin_forms(word: str) -> tuple[str, str]:
    """(full pinyin, initials) of a Chinese word: 腾讯 → (tengxun, tx)."""
    syllables = [s for s in _pinyin(word) if s.isalpha()]
    return "".join(syllables), "".join(s[0] for s in syllables)


# --- indexing ---------------------------------------------------------------------------------------


@dataclass
class Lexemes:
    primary: set[str]
    derived: set[str]

    def update(self, other: Lexemes) -> None:
        self.primary |= other.primary
        self.derived |= other.derived


def _cjk_lexemes(run: str, out: Lexemes) -> None:
    for segment in jieba.cut_for_search(run):
        out.primary.add(segment)
        if len(segment) > 1:
            full, initials = pinyin_forms(segment)
            out.derived.update(x for x in (full, initials) if x)
    for i, char in enumerate(run):
        out.derived.add(char)
        if i + 1 < len(run):
            out.derived.add(run[i:i + 2])
    out.derived.update(s for s in _pinyin(run) if s.isalpha())
    if len(run) <= MAX_RUN_PINYIN:
        full, initials = pinyin_forms(run)
        out.derived.update(x for x in (full, initials) if x)


def text_lexemes(value: str) -> Lexemes:
    """The lexemes of a free-text value (names, notes, addresses, custom values...)."""
    primary, derived = (_cached_lexemes if len(value) <= CACHED_CHARS else _text_lexemes)(value)
    return Lexemes(set(primary), set(derived))


def _text_lexemes(value: str) -> tuple[frozenset[str], frozenset[str]]:
    out = Lexemes(set(), set())
    text = normalise(value[:MAX_FIELD_CHARS])
    for email in _EMAIL.findall(text):
        local, _, domain = email.partition("@")
        out.primary.update((email, local, domain))
    for domain in _DOMAIN.findall(text):
        out.primary.add(domain)
        if domain.startswith("www."):
            out.primary.add(domain[4:])
    out.primary.update(_WORD.findall(text))
    for run in _CJK_RUN.findall(text):
        _cjk_lexemes(run, out)
    primary = frozenset(t[:MAX_TOKEN] for t in out.primary if t)
    return primary, frozenset(t[:MAX_TOKEN] for t in out.derived if t) - primary


# Short values repeat (industries, sources, tags, cities, names, stock phrases): each distinct
# one is segmented once per process. ~10,000 entries of a few KB each.
_cached_lexemes = lru_cache(maxsize=10_000)(_text_lexemes)


def _parse_phone(value: str, region: str = DEFAULT_REGION) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, None if value.strip().startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def phone_lexemes(value: str) -> Lexemes:
    """E.164 digits, national digits and the tagged last four digits of a phone number."""
    digits = re.sub(r"\D", "", normalise(value))
    out = Lexemes(set(), set())
    if not digits:
        return out
    out.primary.add(digits)
    number = _parse_phone(normalise(value))
    if number is not None:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        out.primary.update((e164, str(number.national_number)))
    out.derived.add(LAST4_PREFIX + digits[-4:])
    return out


def word_spans(value: str) -> Iterable[tuple[int, int, frozenset[str]]]:
    """(start, end, lexemes) of each highlightable piece of a normalised text: Latin words,
    e-mails, Chinese segments and characters (with their pinyin). Short values (titles, names,
    industries, stock phrases) come from a cache: a page of hits repeats them."""
    return _cached_spans(value) if len(value) <= CACHED_CHARS else _word_spans(value)


def _word_spans(value: str) -> Iterator[tuple[int, int, frozenset[str]]]:
    for match in _EMAIL.finditer(value):
        local, _, domain = match.group().partition("@")
        yield match.start(), match.end(), frozenset((match.group(), local, domain))
    for match in _WORD.finditer(value):
        yield match.start(), match.end(), frozenset((match.group(),))
    for run in _CJK_RUN.finditer(value):
        base = run.start()
        for word, start, end in jieba.tokenize(run.group(), mode="search"):
            forms = {word, *pinyin_forms(word)} if len(word) > 1 else {word, *_pinyin(word)}
            yield base + start, base + end, frozenset(f for f in forms if f)
        for i, char in enumerate(run.group()):
            yield base + i, base + i + 1, frozenset((char, *_pinyin(char)))


@lru_cache(maxsize=10_000)
def _cached_spans(value: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    return tuple(_word_spans(value))


# --- queries ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alt:
    """One way a term may match: a lexeme, exactly or as a prefix."""

    lexeme: str
    prefix: bool = False


@dataclass(frozen=True)
class Term:
    """One query word: matches when any alternative matches. ``typo`` allows typo expansion."""

    text: str
    alts: tuple[Alt, ...]
    typo: bool = False
    phone: bool = False

    def with_alts(self, extra: Iterable[Alt]) -> Term:
        return Term(self.text, self.alts + tuple(a for a in extra if a not in self.alts), self.typo, self.phone)


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]

    @property
    def engine_text(self) -> str:
        """The query as one string of the primary lexemes (for engines that parse text themselves)."""
        return " ".join(t.alts[0].lexeme for t in self.terms)


def typo_budget(word: str) -> int:
    """Typos allowed in a Latin word, Meilisearch's rule: none below 5 letters, 1 up to 8, then 2."""
    if not word.isascii() or not word.isalpha() or len(word) < 5:
        return 0
    return 1 if len(word) < 9 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap counts as one typo); ``limit + 1`` once exceeded."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _phone_term(raw: str, tagged: bool) -> Term | None:
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None
    if tagged and len(digits) == 4:
        return Term(raw, (Alt(LAST4_PREFIX + digits),), phone=True)
    alts = [Alt(digits, prefix=True)]
    number = _parse_phone(raw)
    if number is not None:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        alts = [Alt(e164), Alt(str(number.national_number)), *alts]
    unique = tuple(dict.fromkeys(alts))
    return Term(raw, unique, phone=True)


def _cjk_alts(word: str) -> tuple[Alt, ...]:
    return (Alt(word),)


def parse_query(q: str) -> ParsedQuery:
    """The terms of a search box text (at most ``MAX_TERMS``; the last one matches as a prefix)."""
    text = normalise(q).strip()
    tag = _PHONE_TAG.match(text)
    if tag:
        term = _phone_term(tag.group("value"), tagged=True)
        return ParsedQuery((term,) if term else ())
    if _PHONE_QUERY.match(text) and sum(c.isdigit() for c in text) >= 7:
        term = _phone_term(text, tagged=False)
        return ParsedQuery((term,) if term else ())
    terms: list[Term] = []
    for email in _EMAIL.findall(text):
        terms.append(Term(email, (Alt(email),)))
    text = _EMAIL.sub(" ", text)
    for domain in _DOMAIN.findall(text):
        terms.append(Term(domain, (Alt(domain),)))
    text = _DOMAIN.sub(" ", text)
    for piece in re.findall(f"[{_CJK}]+|[0-9a-z\u00c0-\u024f]+", text):
        if _IS_CJK.match(piece):
            terms.extend(Term(w, _cjk_alts(w)) for w in jieba.cut(piece) if w.strip())
        else:
            terms.append(Term(piece[:MAX_TOKEN], (Alt(piece[:MAX_TOKEN]),), typo=typo_budget(piece) > 0))
    terms = terms[:MAX_TERMS]
    if terms and not terms[-1].phone:
        # As-you-type: the last word also matches longer words it begins (Latin and pinyin).
        last = terms[-1]
        if last.text.isascii():
            terms[-1] = Term(last.text, (*last.alts, Alt(last.text, prefix=True)), last.typo)
    return ParsedQuery(tuple(terms))


def matches(alt: Alt, lexeme: str) -> bool:
    return lexeme.startswith(alt.lexeme) if alt.prefix else lexeme == alt.lexeme


# --- highlighting -----------------------------------------------------------------------------------

PRE, POST = "<em>", "</em>"
SNIPPET_CHARS = 120


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A page of hits asks the same (term, piece) again and again (the same words in many values).
@lru_cache(maxsize=50_000)
def _term_hits(term: Term, lexemes: frozenset[str]) -> bool:
    for alt in term.alts:
        if any(matches(alt, lexeme) for lexeme in lexemes):
            return True
    budget = typo_budget(term.text) if term.typo else 0
    return budget > 0 and any(edit_distance(term.text, lexeme, budget) <= budget for lexeme in lexemes)


@lru_cache(maxsize=10_000)
def _phone_forms(value: str) -> frozenset[str]:
    lexemes = phone_lexemes(value)
    return frozenset(lexemes.primary | lexemes.derived)


def highlight(value: str, query: ParsedQuery, *, phone: bool = False) -> str | None:
    """``value`` (HTML-escaped, around its first match) with the matched pieces in ``<em>``; None
    when nothing in it matches. A phone value is highlighted whole when a phone term matches it."""
    if not value:
        return None
    if phone:
        if any(_term_hits(t, _phone_forms(value)) for t in query.terms if t.phone):
            return PRE + _escape(value) + POST
        return None
    # NFKC may change lengths (e.g. ligatures); highlight on the normalised text then.
    normal = normalise(value)
    shown = value if len(normal) == len(value) else normal
    marks = [False] * len(normal)
    for start, end, lexemes in word_spans(normal):
        if any(_term_hits(t, lexemes) for t in query.terms if not t.phone):
            for i in range(start, end):
                marks[i] = True
    if not any(marks):
        return None
    first = marks.index(True)
    begin = max(0, first - SNIPPET_CHARS // 3)
    end = min(len(shown), begin + SNIPPET_CHARS)
    out, inside = [], False
    if begin > 0:
        out.append("…")
    for i in range(begin, end):
        if marks[i] and not inside:
            out.append(PRE)
            inside = True
        elif not marks[i] and inside:
            out.append(POST)
            inside = False
        out.append(_escape(shown[i]))
    if inside:
        out.append(POST)
    if end < len(shown):
        out.append("…")
    return "".join(out)
