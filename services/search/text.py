"""Text normalisation shared by both engines: what a field indexes and what a query looks for.

Neither engine segments Chinese finely enough nor knows pinyin, so the service does it for both:
a field value becomes *lexemes* (plain strings compared exactly or by prefix):

* primary: Latin words, e-mail addresses with their local part and domain, domains, jieba
  search-mode segments of Chinese runs (深圳市腾讯计算机系统有限公司 → 深圳, 腾讯, 计算机, 有限公司...);
* derived: every two-character window and every character of a Chinese run (so 处理 finds 待处理
  whatever the dictionary says), the pinyin of each segment in full (``tengxun``) and initials
  (``tx``), each syllable (``teng``, ``xun``), the pinyin and initials of a whole run (prefix typing);
* phones: E.164 digits, national digits, a tagged last-four lexeme (``phone:8000``) and tagged
  tails of 4–11 digits (尾号: a query of 4–11 digits matches the end of a stored number);
* sounds: the tone-less pinyin of every two-character window (``pingan`` for 平安 wherever it
  stands), so a homophone typo (平按) finds the record;
* a company name's derived short names (简称): without region prefix and legal form, the first
  characters of its words (上汽, 中石化), X行 for a bank (建行).

A query becomes ``Term``s, all of which must match; a term matches when one of its alternatives
does. A Chinese run of the query is one term whatever the segmenter makes of it: it matches as a
word, as its segmenter words, as its overlapping character pairs (the record's segments need not
be the query's), or by the sound of those pairs; each alternative has a ``Tier`` the ranking uses.
Text is NFKC-normalised (full-width → half-width), lower-cased and converted from traditional to
simplified characters (OpenCC's t2s) on both sides; highlights stay in the record's own script.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import jieba
import opencc
import phonenumbers
import re2
from pypinyin import lazy_pinyin

jieba.setLogLevel(logging.WARNING)

# What documents are built by: a tenant whose documents an older version built is reindexed
# (services/search/reindex.py). 2: issue 19 (sounds, simplified characters, tails, short names).
ANALYSIS_VERSION = 2
MAX_QUERY_CHARS = 200
MAX_TERMS = 10
MAX_TOKEN = 64
MAX_FIELD_CHARS = 20_000  # longer field values are indexed by their beginning
CACHED_CHARS = 120  # text values up to this long keep their lexemes in a cache
MAX_RUN_PINYIN = 24  # whole-run pinyin for runs up to this long (prefix typing of a name)
LAST4_PREFIX = "phonelast4x"  # one alphanumeric word, so Meilisearch keeps it whole as well
TAIL_PREFIX = "phonetailx"  # + the last 4..11 digits of a stored number
TAIL_DIGITS = range(4, 12)
EXACT_PREFIX = "="  # the whole title value: ranks an exact name first (PostgreSQL engine)
DEFAULT_REGION = "CN"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_IS_CJK = re.compile(f"^[{_CJK}]+$")
_CJK_ANY = re.compile(f"[{_CJK}]")
_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+")
# RE2 (linear time): with Python's ``re`` a long run of letters without an @ costs time quadratic
# in its length (0.2 s for one 20,000-character field, in the request that highlights it).
_EMAIL = re2.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_DOMAIN = re.compile(r"(?<![\w@.-])(?:[a-z0-9-]+\.)+[a-z]{2,}(?![\w-])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE_QUERY = re.compile(r"^\+?[\d\s\-().]{7,25}$")
_PHONE_TAG = re.compile(r"^(?:phone|tel|电话|手机):\s*(?P<value>.+)$")


# Traditional → simplified (OpenCC's tables, phrases included): 中國農業銀行 and 中国农业银行 index
# and query alike.
_T2S = opencc.OpenCC("t2s")


def warm_up() -> None:
    """Load jieba's dictionary and pypinyin's tables now (about a second), not on the first event."""
    jieba.initialize()
    lazy_pinyin("汇客")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower-case, no control characters, simplified characters."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    return _T2S.convert(text) if _CJK_ANY.search(text) else text


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


def char_sounds(run: str) -> list[str]:
    """The tone-less pinyin of each character of a Chinese run ("" where it has none)."""
    sounds = [s if s.isalpha() else "" for s in _pinyin(run)]
    if len(sounds) != len(run):  # a character without pinyin: one at a time, so they line up
        sounds = [next(iter(_pinyin(c)), "") for c in run]
    return sounds


def _alone_sounds(run: str) -> list[str]:
    """Each character's pinyin read alone (its commonest reading): 行 is xing, also in 银行."""
    return [next((s for s in _pinyin(c) if s.isalpha()), "") for c in run]


def _pairs(sounds: list[str]) -> list[str]:
    return [sounds[i] + sounds[i + 1] for i in range(len(sounds) - 1) if sounds[i] and sounds[i + 1]]


def pair_sounds(run: str) -> list[str]:
    """The sound of each two-character window: 平安保险 → pingan, anbao, baoxian; a character
    with several readings (多音字) in its reading there and read alone (银行 → yinhang, yinxing),
    so a homophone typo that changes the context (因行) still sounds the same."""
    return list(dict.fromkeys(_pairs(char_sounds(run)) + _pairs(_alone_sounds(run))))


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
    out.derived.update(pair_sounds(run))
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


# Company names: region prefixes and legal forms a short name (简称) leaves out.
_REGIONS = ("中国", "中华", "北京", "上海", "天津", "重庆", "深圳", "广州", "杭州", "成都", "武汉", "南京", "苏州",
            "西安", "长沙", "厦门", "青岛", "宁波", "合肥", "郑州", "济南", "无锡", "东莞", "佛山", "福州", "昆明",
            "大连", "沈阳", "哈尔滨", "长春", "石家庄", "太原", "南昌", "南宁", "贵阳", "兰州", "海口", "香港",
            "澳门", "台北", "台中", "高雄", "新竹", "广东", "江苏", "浙江", "山东", "河南", "河北", "湖北",
            "湖南", "四川", "福建", "安徽", "江西", "辽宁", "吉林", "黑龙江", "陕西", "山西", "云南", "贵州",
            "广西", "海南", "甘肃", "青海", "内蒙古", "新疆", "西藏", "宁夏")
_REGION_UNITS = ("省", "市", "区", "县")
_LEGAL = ("集团股份有限公司", "股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司", "集团", "公司",
          "股份")


def _strip_legal(name: str) -> str:
    for _ in range(2):  # 科技集团有限公司 → 科技集团 → 科技
        for suffix in _LEGAL:
            if name.endswith(suffix) and len(name) > len(suffix) + 1:
                name = name[: -len(suffix)]
                break
    return name


def _strip_region(name: str) -> str:
    for _ in range(2):  # 中国 + 上海...
        for region in _REGIONS:
            if name.startswith(region) and len(name) > len(region) + 1:
                name = name[len(region):]
                if name[0] in _REGION_UNITS and len(name) > 2:
                    name = name[1:]
                break
    return name


def _words(name: str) -> list[str]:
    """The segmenter's words, a long one in two-character pieces (中国石油化工 → 中国, 石油, 化工):
    most Chinese words are two characters, and a short name takes the first of each."""
    words: list[str] = []
    for word in jieba.cut(name):
        if len(word) >= 4 and len(word) % 2 == 0:
            words += [word[i:i + 2] for i in range(0, len(word), 2)]
        elif word.strip():
            words.append(word)
    return words


def _initials(words: list[str]) -> list[str]:
    """Short names from the first character of words: all of them, the first two, first and last."""
    if len(words) < 2:
        return []
    firsts = [w[0] for w in words]
    return list(dict.fromkeys(("".join(firsts[:4]), firsts[0] + firsts[1], firsts[0] + firsts[-1])))


@lru_cache(maxsize=10_000)
def short_names(value: str) -> tuple[str, ...]:
    """Derived short names (简称) of a company name: 深圳市恒瑞电子科技有限公司 → 恒瑞电子科技;
    上海汽车集团股份有限公司 → 上汽; 中国石油化工集团 → 中石化; 中国建设银行 → 建行, 建设银行."""
    text = normalise(value).strip()
    if not _IS_CJK.match(text) or len(text) < 3:
        return ()
    bare = _strip_legal(text)
    core = _strip_region(bare)
    names = [bare, core]
    if core.endswith("银行") and len(core) >= 4:
        names.append(core[0] + "行")
    names += _initials(_words(bare))
    if core != bare:
        core_words = _words(core)
        names += _initials(core_words)
        region = bare[: len(bare) - len(core)]
        names += [region + n for n in _initials(core_words)]
    return tuple(n for n in dict.fromkeys(names) if n != text and len(n) >= 2)


def name_lexemes(value: str) -> Lexemes:
    """A company name's lexemes, with its derived short names' as derived forms."""
    out = text_lexemes(value)
    for short in short_names(value):
        extra = text_lexemes(short)
        out.derived |= (extra.primary | extra.derived) - out.primary
    return out


def exact_lexeme(value: str) -> str:
    """The whole value as one lexeme (normalised, spaces collapsed): an exact name match."""
    return (EXACT_PREFIX + " ".join(normalise(value).split()))[:MAX_TOKEN]


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
    for number_digits in {digits, *(out.primary - {digits})}:
        out.derived.update(TAIL_PREFIX + number_digits[-n:] for n in TAIL_DIGITS if n <= len(number_digits))
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


class Tier:
    """How good a match an alternative is; a hit ranks by the best tier every term reaches."""

    WORD = 0  # the word itself (Latin word, Chinese run or its words, pinyin typed, the whole number)
    CHARS = 1  # the run's overlapping character pairs: the same characters, segmented otherwise
    SOUND = 2  # the same sounds (homophone typo) or a Latin typo
    PARTIAL = 3  # a prefix (as you type), the tail of a phone number


@dataclass(frozen=True)
class Alt:
    """One way a term may match: a lexeme, exactly or as a prefix, or every one of ``parts``."""

    lexeme: str
    prefix: bool = False
    tier: int = Tier.WORD
    parts: tuple[str, ...] = ()  # a conjunction: every part must be a lexeme of the same field

    @property
    def lexemes(self) -> tuple[str, ...]:
        return self.parts or (self.lexeme,)


@dataclass(frozen=True)
class Term:
    """One query word: matches when any alternative matches. ``typo`` allows typo expansion.
    ``chars`` / ``sounds``: a Chinese run's characters and their pinyin (for highlighting)."""

    text: str
    alts: tuple[Alt, ...]
    typo: bool = False
    phone: bool = False
    chars: frozenset[str] = frozenset()
    sounds: frozenset[str] = frozenset()

    def with_alts(self, extra: Iterable[Alt]) -> Term:
        return Term(self.text, self.alts + tuple(a for a in extra if a not in self.alts), self.typo, self.phone,
                    self.chars, self.sounds)

    @property
    def tail(self) -> bool:
        """Whether the term may be the tail of a phone number (a word of 4-11 digits)."""
        return any(a.lexeme.startswith(TAIL_PREFIX) for a in self.alts)

    def engine_form(self, loose: bool) -> str:
        """What an engine that parses text itself is asked: the character pairs of a Chinese run
        (its own segmenter then cannot cut them otherwise than the record's), or ``loose``: their
        sounds, a phone tail."""
        by_tier = {a.tier: a for a in reversed(self.alts) if not a.prefix}
        if loose:
            tail = next((a for a in self.alts if a.lexeme.startswith(TAIL_PREFIX)), None)
            alt = by_tier.get(Tier.SOUND) or tail
            if alt is not None:
                return " ".join(alt.lexemes)
        if Tier.CHARS in by_tier:
            return " ".join(by_tier[Tier.CHARS].lexemes)
        return self.alts[0].lexeme


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]
    whole: str = ""  # the whole query as an exact-title lexeme (``exact_lexeme``)

    @property
    def engine_text(self) -> str:
        """The query as one string (for engines that parse text themselves)."""
        return " ".join(t.engine_form(False) for t in self.terms)

    @property
    def engine_loose_text(self) -> str:
        """The query by sounds and phone tails: what finds homophone typos and 尾号."""
        return " ".join(t.engine_form(True) for t in self.terms)


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


def _tail(digits: str) -> tuple[Alt, ...]:
    return (Alt(TAIL_PREFIX + digits, tier=Tier.PARTIAL),) if len(digits) in TAIL_DIGITS else ()


def _phone_term(raw: str, tagged: bool) -> Term | None:
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None
    if tagged and len(digits) == 4:
        return Term(raw, (Alt(LAST4_PREFIX + digits),), phone=True)
    alts = [Alt(digits, prefix=True, tier=Tier.PARTIAL), *_tail(digits)]
    number = _parse_phone(raw)
    if number is not None:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        alts = [Alt(e164), Alt(str(number.national_number)), *alts]
    unique = tuple(dict.fromkeys(alts))
    return Term(raw, unique, phone=True)


def _cjk_term(run: str) -> Term:
    """A Chinese run of the query as one term: the run as a word, its segmenter words together,
    its overlapping character pairs together (whatever the record's segments), their sounds."""
    alts = [Alt(run)]
    words = tuple(dict.fromkeys(w for w in jieba.cut(run) if w.strip()))
    # Words of one character would match that character anywhere in the field: only real words.
    if len(words) > 1 and all(len(w) > 1 for w in words):
        alts.append(Alt(" ".join(words), parts=words))
    pairs = tuple(dict.fromkeys(run[i:i + 2] for i in range(len(run) - 1)))
    if len(pairs) > 1:
        alts.append(Alt(" ".join(pairs), tier=Tier.CHARS, parts=pairs))
    for reading in (char_sounds(run), _alone_sounds(run)):
        sounds = tuple(dict.fromkeys(_pairs(reading)))
        if sounds and all(reading):
            alts.append(Alt(" ".join(sounds), tier=Tier.SOUND, parts=sounds))
    sounds = frozenset(s for s in char_sounds(run) + _alone_sounds(run) if s)
    return Term(run, tuple(dict.fromkeys(alts)), chars=frozenset(run), sounds=sounds)


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
            terms.append(_cjk_term(piece[:MAX_TOKEN]))
        else:
            word = piece[:MAX_TOKEN]
            # A number of 4-11 digits is also the tail of a phone number (尾号).
            tail = _tail(word) if word.isdigit() else ()
            terms.append(Term(word, (Alt(word), *tail), typo=typo_budget(piece) > 0))
    terms = terms[:MAX_TERMS]
    if terms and not terms[-1].phone:
        # As-you-type: the last word also matches longer words it begins (Latin and pinyin).
        last = terms[-1]
        if last.text.isascii():
            terms[-1] = last.with_alts((Alt(last.text, prefix=True, tier=Tier.PARTIAL),))
    return ParsedQuery(tuple(terms), exact_lexeme(text) if terms else "")


def matches(alt: Alt, lexeme: str) -> bool:
    if alt.parts:
        return lexeme in alt.parts
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
    # A character of a Chinese term, or one that sounds like it (a piece of one character holds
    # the character and its pinyin).
    if term.chars and (lexemes & term.chars or (len(lexemes) == 2 and lexemes & term.sounds)):
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
        if any(_term_hits(t, _phone_forms(value)) for t in query.terms if t.phone or t.tail):
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
