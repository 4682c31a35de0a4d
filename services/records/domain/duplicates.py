"""Duplicates (客户查重): match keys, the tenant's rules, and the finder used on create, update,
the check endpoint, imports and the scan.

Matching (customers and contacts):

* exact on the normalised phone (E.164, every phone of the record), e-mail (lower-case) and, for
  customers, the unified social credit code;
* fuzzy on the company name and its aliases (customers): ``name_key`` strips full-width forms,
  case, spacing and punctuation, legal suffixes (有限公司, 股份有限公司, Co., Ltd., Inc., GmbH ...)
  and a leading province / city (深圳市, 广东省深圳市, ...) plus bracketed regions (（中国）);
  two keys match when their trigram similarity reaches the rule's ``name_threshold``.
* a name match weighs the rest of the evidence (``name_conflict``, the one rule every finder
  applies: create, update, the check endpoint, imports and scans): it does not count when both
  records have a unified social credit code and they differ, when both have phones and share none,
  or when the names carry different places (宁波瑞鑫物流有限公司 is not 温州瑞鑫物流股份有限公司; a
  city counts as its province too, so 浙江瑞鑫 and 宁波瑞鑫 may still match). Only the same name with
  nothing against it is a match. The exact rules are not weighed: a shared phone is a match.

Soft-deleted and merged records match too (``status`` ``deleted`` / ``merged`` with
``merged_into``), so a returning customer is recognised instead of re-created.

Rules (``records.duplicate_rules``, versioned): per rule ``phone``, ``email``, ``uscc``, ``name``
the action ``block`` (409 with the candidates), ``warn`` (saved; the answer names them) or
``off``. An exact rule left unset follows the records settings' ``duplicate_rule``; ``name``
defaults to ``warn``.

For imports: ``find_duplicates_batch(unit, entity, candidates)`` answers one list of
``Duplicate`` per candidate with one query for the whole batch; ``find_duplicates`` is the same for
one record.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import msgspec

from services.records.db import duplicates as store
from services.records.domain import normalise
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.legal_forms import basename
from shared.db import Unit
from shared.errors import Conflict, FieldError, ValidationProblem
from shared.http.conditional import check_version

ENTITIES = ("customer", "contact")
RULES = ("phone", "email", "uscc", "name")
ACTIONS = ("block", "warn", "off")
DEFAULT_NAME_THRESHOLD = 0.5
MAX_REPORTED = 20  # what a person can weigh on a form or in a check answer; the best come first

# Chinese legal forms, longest first (a suffix is removed once, then the next is tried).
_CN_SUFFIXES = (
    "股份有限公司", "有限责任公司", "集团有限公司", "控股有限公司", "有限公司", "股份公司", "集团公司", "分公司", "总公司",
    "公司", "有限合伙", "合伙企业", "个体工商户", "工作室", "事务所", "集团", "企业", "商行", "经营部", "门市部",
)
# Provinces and the larger cities: a leading one (with or without 省/市) is not part of a name.
_PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西", "山东",
    "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏",
    "宁夏", "新疆", "香港", "澳门",
)
_CITIES = (
    "深圳", "广州", "东莞", "佛山", "珠海", "中山", "惠州", "汕头", "杭州", "宁波", "温州", "绍兴", "嘉兴", "金华", "台州",
    "南京", "苏州", "无锡", "常州", "南通", "徐州", "扬州", "成都", "绵阳", "武汉", "长沙", "郑州", "洛阳", "西安", "济南",
    "青岛", "烟台", "潍坊", "临沂", "合肥", "芜湖", "福州", "厦门", "泉州", "南昌", "沈阳", "大连", "长春", "哈尔滨",
    "石家庄", "唐山", "保定", "太原", "昆明", "贵阳", "南宁", "柳州", "桂林", "海口", "三亚", "兰州", "西宁", "银川",
    "乌鲁木齐", "拉萨", "呼和浩特", "包头",
)
# The province of each city above (a place written as a city and one written as its province agree).
_PROVINCE_OF = {
    **dict.fromkeys(("深圳", "广州", "东莞", "佛山", "珠海", "中山", "惠州", "汕头"), "广东"),
    **dict.fromkeys(("杭州", "宁波", "温州", "绍兴", "嘉兴", "金华", "台州"), "浙江"),
    **dict.fromkeys(("南京", "苏州", "无锡", "常州", "南通", "徐州", "扬州"), "江苏"),
    **dict.fromkeys(("成都", "绵阳"), "四川"), "武汉": "湖北", "长沙": "湖南", **dict.fromkeys(("郑州", "洛阳"), "河南"),
    "西安": "陕西", **dict.fromkeys(("济南", "青岛", "烟台", "潍坊", "临沂"), "山东"),
    **dict.fromkeys(("合肥", "芜湖"), "安徽"), **dict.fromkeys(("福州", "厦门", "泉州"), "福建"), "南昌": "江西",
    **dict.fromkeys(("沈阳", "大连"), "辽宁"), "长春": "吉林", "哈尔滨": "黑龙江",
    **dict.fromkeys(("石家庄", "唐山", "保定"), "河北"), "太原": "山西", "昆明": "云南", "贵阳": "贵州",
    **dict.fromkeys(("南宁", "柳州", "桂林"), "广西"), **dict.fromkeys(("海口", "三亚"), "海南"), "兰州": "甘肃",
    "西宁": "青海", "银川": "宁夏", "乌鲁木齐": "新疆", "拉萨": "西藏", **dict.fromkeys(("呼和浩特", "包头"), "内蒙古"),
}
_REGION = "|".join(sorted(_PROVINCES + _CITIES, key=len, reverse=True))
_LEADING_PROVINCE = re.compile(rf"^({'|'.join(sorted(_PROVINCES, key=len, reverse=True))})(?:省|市|自治区|特别行政区)?")
_LEADING_CITY = re.compile(rf"^({'|'.join(sorted(_CITIES, key=len, reverse=True))})市?")
_BRACKETED_REGION = re.compile(rf"[(\[（【]({_REGION}|中国|china)(?:省|市)?[)\]）】]", re.IGNORECASE)
_LATIN_PUNCT_GLUE = re.compile(r"([,.])(?=\S)")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def name_key(name: str) -> str:
    """The form company names are compared in: '深圳市腾讯计算机系统有限公司' -> '腾讯计算机系统',
    'ＴＥＮＣＥＮＴ Co.,Ltd.' -> 'tencent'. May be '' for a name made only of a legal form."""
    return _name_parts(name)[0]


def name_places(name: str) -> frozenset[str]:
    """The places a company name carries and ``name_key`` strips: '宁波瑞鑫物流有限公司' ->
    {'宁波'}, '腾讯科技（深圳）有限公司' -> {'深圳'} (中国 is no place here: every name may have it)."""
    return _name_parts(name)[1]


@functools.lru_cache(maxsize=4096)  # a name is keyed and then weighed (name_key, name_places)
def _name_parts(name: str) -> tuple[str, frozenset[str]]:
    text = unicodedata.normalize("NFKC", name).strip()
    places = {m.group(1) for m in _BRACKETED_REGION.finditer(text) if m.group(1).lower() not in ("中国", "china")}
    text = _BRACKETED_REGION.sub("", text)
    # cleanco knows the Latin legal forms of many countries; it needs "Co., Ltd." spaced.
    latin = _LATIN_PUNCT_GLUE.sub(r"\1 ", text)
    previous = None
    while previous != latin and latin:
        previous, latin = latin, basename(latin)
    text = latin or text
    compact = _NOT_WORD.sub("", text).lower()
    for suffix in _CN_SUFFIXES:  # one legal form, then perhaps 集团 before it
        if compact.endswith(suffix) and len(compact) > len(suffix):
            compact = compact[: -len(suffix)]
    for pattern in (_LEADING_PROVINCE, _LEADING_CITY):
        compact, place = _strip_region(pattern, compact)
        if place:
            places.add(place)
    return compact, frozenset(places)


def _strip_region(pattern: re.Pattern[str], text: str) -> tuple[str, str | None]:
    """``text`` without a leading region, and the region (without 省/市): with 省/市 when 2
    characters remain (深圳市腾讯 -> 腾讯), bare only when 4 remain (北京大学 stays, 深圳华强电子 -> 华强电子)."""
    found = pattern.match(text)
    if not found or not found.group(0):
        return text, None
    rest = text[found.end():]
    marked = found.group(0)[-1] in "省市区"
    if len(rest) < (2 if marked else 4):
        return text, None
    return rest, found.group(1)


# --- weighing a name match --------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What else than its name says which company a record is."""

    phones: frozenset[str] = frozenset()
    usccs: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()     # the cities its names carry
    provinces: frozenset[str] = frozenset()  # the provinces they carry, and those of its cities


def evidence(keys: Iterable[tuple[str, str]], names: Iterable[str | None]) -> Evidence:
    """The evidence of a record from its match keys (``(kind, key)``; only phones and USCC count)
    and its names (name and aliases)."""
    pairs = list(keys)
    places = {p for name in names if isinstance(name, str) and name.strip() for p in name_places(name)}
    cities = {p for p in places if p in _PROVINCE_OF}
    return Evidence(phones=frozenset(k for kind, k in pairs if kind == "phone"),
                    usccs=frozenset(k for kind, k in pairs if kind == "uscc"), cities=frozenset(cities),
                    provinces=frozenset((places - cities) | {_PROVINCE_OF[c] for c in cities}))


def name_conflict(a: Evidence, b: Evidence) -> str | None:
    """Why two records whose names match are still not the same company, or None: ``uscc``
    (both have one, they differ), ``phone`` (both have phones, none shared), ``place`` (both
    names carry a city and no city is shared: 宁波 and 温州; or both carry a province, cities
    counting as theirs, and none is shared: 广东 and 宁波; 宁波 and 浙江 agree)."""
    if a.usccs and b.usccs and not a.usccs & b.usccs:
        return "uscc"
    if a.phones and b.phones and not a.phones & b.phones:
        return "phone"
    if a.cities and b.cities and not a.cities & b.cities:
        return "place"
    if a.provinces and b.provinces and not a.provinces & b.provinces:
        return "place"
    return None


def stored_evidence(row: Mapping[str, Any]) -> Evidence:
    """The evidence of a stored record as the match queries answer it: ``name``, ``aliases`` and
    ``evidence`` (its phone and USCC keys as ``kind:key``)."""
    keys = [tuple(item.split(":", 1)) for item in row["evidence"] or ()]
    return evidence([(k[0], k[1]) for k in keys if len(k) == 2], [row["name"], *(row["aliases"] or ())])


def match_stands(candidate: Evidence, row: Mapping[str, Any]) -> bool:
    """Whether one match row (kind, and the stored record's evidence for a name) counts: exact
    kinds always, a name only with nothing against it."""
    return row["kind"] != "name" or name_conflict(candidate, stored_evidence(row)) is None


# --- keys -------------------------------------------------------------------------------------------


def _values(single: Any, many: Any) -> list[str]:
    """Phone or e-mail values of a record or candidate: the single value and every list entry
    (entries may be strings or {value, ...})."""
    out = [single] if isinstance(single, str) and single else []
    for item in many or []:
        value = item.get("value") if isinstance(item, Mapping) else item
        if isinstance(value, str) and value:
            out.append(value)
    return out


def _try(fn: Any, *args: Any) -> str | None:
    try:
        return fn(*args)
    except normalise.Invalid:
        return None


def match_keys(entity: str, record: Mapping[str, Any], region: str, *,
               normalised: bool = False) -> list[tuple[str, str]]:
    """(kind, key) pairs of a record or candidate: normalised phones, e-mails, USCC and names.
    Values that do not normalise are skipped (validation reports them elsewhere). ``normalised``:
    the phones, e-mails and USCC are validated columns already, taken as they are (the bulk import
    keys many rows; parsing each phone again costs more than the rest of the row)."""
    keys: list[tuple[str, str]] = []
    for value in _values(record.get("phone"), record.get("phones")):
        phone = value if normalised else _try(normalise.phone, value, region)
        if phone:
            keys.append(("phone", phone))
    for value in _values(record.get("email"), record.get("emails")):
        email = value if normalised else _try(normalise.email, value)
        if email:
            keys.append(("email", email))
    if entity == "customer":
        uscc = record.get("uscc")
        if isinstance(uscc, str) and uscc.strip():
            code = uscc if normalised else _try(normalise.uscc, uscc)
            if code:
                keys.append(("uscc", code))
        names = [record.get("name"), *(record.get("aliases") or [])]
        for name in names:
            if isinstance(name, str) and name.strip():
                key = name_key(name)
                if key:
                    keys.append(("name", key))
    return list(dict.fromkeys(keys))


async def store_keys(unit: Unit, entity: str, record: Mapping[str, Any], region: str) -> None:
    """Write a record's match keys (call after every create and every change of a matched field)."""
    await store.replace_keys(unit, entity, record["id"], match_keys(entity, record, region))


# --- rules ------------------------------------------------------------------------------------------


class DuplicateRules(msgspec.Struct, kw_only=True):
    """Per rule: block, warn, off; None (exact rules only) follows settings' duplicate_rule."""

    phone: str | None = None
    email: str | None = None
    uscc: str | None = None
    name: str = "warn"
    name_threshold: float = DEFAULT_NAME_THRESHOLD
    version: int = 0

    def action(self, rule: str, default: str) -> str:
        value = getattr(self, rule)
        return default if value is None else value


class RulesPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    phone: str | None | msgspec.UnsetType = msgspec.UNSET
    email: str | None | msgspec.UnsetType = msgspec.UNSET
    uscc: str | None | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    name_threshold: float | msgspec.UnsetType = msgspec.UNSET


async def rules(unit: Unit) -> DuplicateRules:
    row = await store.current_rules(unit)
    if row is None:
        return DuplicateRules()
    return msgspec.convert({**row["rules"], "version": row["version"]}, DuplicateRules)


def rules_out(current: DuplicateRules, settings: settings_domain.RecordsSettings) -> dict[str, Any]:
    """The rules with every action resolved (``follows_settings`` lists the exact rules that take
    the records settings' duplicate_rule)."""
    return {
        "version": current.version,
        **{r: current.action(r, settings.duplicate_rule) for r in RULES},
        "name_threshold": current.name_threshold,
        "follows_settings": [r for r in ("phone", "email", "uscc") if getattr(current, r) is None],
    }


async def change_rules(unit: Unit, patch: RulesPatch, *, user_id: uuid.UUID,
                       expected_version: int | None) -> DuplicateRules:
    """A new version of the rules (422 listing every bad field; 412 when ``expected_version`` is stale)."""
    errors: list[FieldError] = []
    for rule in RULES:
        value = getattr(patch, rule)
        if value not in (msgspec.UNSET, None) and value not in ACTIONS:
            errors.append(FieldError(rule, "must be block, warn or off", "invalid"))
    if patch.name is None:
        errors.append(FieldError("name", "must be block, warn or off", "invalid"))
    threshold = patch.name_threshold
    if threshold is not msgspec.UNSET and not 0.1 <= threshold <= 1.0:
        errors.append(FieldError("name_threshold", "must be between 0.1 and 1.0", "out_of_range"))
    if errors:
        raise ValidationProblem(errors)
    current = await rules(unit)
    check_version(expected_version, current.version, "duplicate_rules")
    merged = {**msgspec.to_builtins(current), **{k: v for k, v in msgspec.structs.asdict(patch).items()
                                                  if v is not msgspec.UNSET}}
    merged.pop("version", None)
    row = await store.insert_rules(unit, current.version + 1, merged, user_id)
    if row is None:
        raise Conflict("The duplicate rules were changed at the same moment; read them and try again",
                       kind="concurrent-change")
    return msgspec.convert({**row["rules"], "version": row["version"]}, DuplicateRules)


# --- finding ----------------------------------------------------------------------------------------


class Duplicate(msgspec.Struct, kw_only=True):
    """A stored record that matches a candidate."""

    id: uuid.UUID
    entity: str
    name: str
    rules: list[str]                 # which rules matched: phone, email, uscc, name
    score: float                     # 1.0 for exact rules; the best name similarity otherwise
    status: str                      # active | deleted | merged
    merged_into: uuid.UUID | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    customer_id: uuid.UUID | None    # contacts: their customer
    customer_owner_id: uuid.UUID | None = None
    customer_department_id: uuid.UUID | None = None


async def find_duplicates_batch(unit: Unit, entity: str, candidates: Sequence[Mapping[str, Any]], *,
                                exclude: Iterable[uuid.UUID] = (), region: str | None = None,
                                rule_set: DuplicateRules | None = None,
                                exact_only: bool = False) -> list[list[Duplicate]]:
    """For each candidate (a dict with any of name, aliases, phone, phones, email, emails, uscc),
    the stored records of ``entity`` that match it under the tenant's rules (rules set to ``off``
    are skipped), best first, at most ``MAX_REPORTED``. One query for the whole batch.
    ``exclude``: record ids never to report (the record being updated). ``exact_only``: btree
    lookups alone, a name only when its core is the same (score 1.0), no trigram search."""
    if entity not in ENTITIES:
        raise ValueError(f"duplicates are found for {', '.join(ENTITIES)}, not {entity}")
    if not candidates:
        return []
    if region is None or rule_set is None:
        cfg = await settings_domain.get(unit)
        region = region or cfg.default_region
        rule_set = rule_set or resolved(await rules(unit), cfg.duplicate_rule)
    active = {r for r in RULES if rule_set.action(r, "warn") != "off"}
    indexes: list[int] = []
    kinds: list[str] = []
    keys: list[str] = []
    weighed: list[Evidence] = []
    for index, candidate in enumerate(candidates):
        own = match_keys(entity, candidate, region)
        weighed.append(evidence(own, [candidate.get("name"), *(candidate.get("aliases") or [])]))
        for kind, key in own:
            if kind in active:
                indexes.append(index)
                kinds.append(kind)
                keys.append(key)
    answers: list[dict[uuid.UUID, Duplicate]] = [{} for _ in candidates]
    if not keys:
        return [[] for _ in candidates]
    rows = await store.matches(unit, entity, indexes, kinds, keys, threshold=rule_set.name_threshold,
                               fuzzy=not exact_only, exclude=list(exclude))
    for row in rows:
        if not match_stands(weighed[row["idx"]], row):
            continue
        found = answers[row["idx"]]
        hit = found.get(row["record_id"])
        if hit is None:
            status = "merged" if row["merged_into"] is not None else "deleted" if row["deleted_at"] else "active"
            hit = found[row["record_id"]] = Duplicate(
                id=row["record_id"], entity=entity, name=row["name"], rules=[], score=0.0, status=status,
                merged_into=row["merged_into"], owner_id=row["owner_id"], department_id=row["department_id"],
                customer_id=row["customer_id"], customer_owner_id=row["customer_owner_id"],
                customer_department_id=row["customer_department_id"],
            )
        if row["kind"] not in hit.rules:
            hit.rules.append(row["kind"])
        hit.score = max(hit.score, float(row["score"]))
    order = {"active": 0, "deleted": 1, "merged": 2}
    return [sorted(found.values(), key=lambda d: (order[d.status], -len(d.rules), -d.score))[:MAX_REPORTED]
            for found in answers]


async def find_duplicates(unit: Unit, entity: str, candidate: Mapping[str, Any], *,
                          exclude: Iterable[uuid.UUID] = (), region: str | None = None,
                          rule_set: DuplicateRules | None = None) -> list[Duplicate]:
    """The stored records of ``entity`` matching one candidate (see ``find_duplicates_batch``;
    a caller that has read the settings and rules passes ``region`` and ``rule_set``, resolved)."""
    return (await find_duplicates_batch(unit, entity, [candidate], exclude=exclude, region=region,
                                        rule_set=rule_set))[0]


def blocking(found: Sequence[Duplicate], rule_set: DuplicateRules, default: str) -> bool:
    """Whether any match comes from a rule that blocks."""
    return any(rule_set.action(r, default) == "block" for d in found for r in d.rules)


# The candidate's keys each rule reads, as field rules name them.
_MATCHED_BY = {"phone": ("phone", "phones"), "phones": ("phone", "phones"), "email": ("email", "emails"),
               "emails": ("email", "emails"), "uscc": ("uscc",), "name": ("name",), "aliases": ("name", "aliases")}


def matchable(access: RecordAccess, entity: str, candidate: Mapping[str, Any]) -> dict[str, Any]:
    """The candidate without the fields hidden from the caller: nothing is matched on them.

    A match on a hidden field would answer which record holds a value the caller may not read
    (``check`` a phone, learn whose it is), so, as a CRM's matching follows field-level security,
    the matches only a hidden field produces are left out. The caller cannot write a hidden field
    either, so no duplicate they could create goes unnoticed because of this."""
    hidden = access.hidden_fields(entity)
    if not hidden:
        return dict(candidate)
    return {k: v for k, v in candidate.items()
            if k not in hidden and not any(f in hidden for f in _MATCHED_BY.get(k, ()))}


def out(access: RecordAccess, found: Sequence[Duplicate]) -> list[dict[str, Any]]:
    """Duplicates as answers show them: records outside the caller's scope only by id, status and
    matched rules (the caller learns that the customer exists, not its details); fields hidden
    from the caller (e.g. the name) are left out of visible ones."""
    items = []
    for d in found:
        if d.entity == "contact":
            parent = {"owner_id": d.customer_owner_id, "department_id": d.customer_department_id}
            visible = access.visible("contact", msgspec.structs.asdict(d)) and access.visible("customer", parent)
        else:
            visible = access.visible("customer", msgspec.structs.asdict(d))
        item: dict[str, Any] = {"id": str(d.id), "entity": d.entity, "rules": d.rules, "score": round(d.score, 3),
                                "status": d.status, "visible": visible}
        if d.merged_into is not None:
            item["merged_into"] = str(d.merged_into)
        if visible:
            hidden = access.hidden_fields(d.entity)
            if "name" not in hidden:
                item["name"] = d.name
            if "owner_id" not in hidden:
                item["owner_id"] = str(d.owner_id) if d.owner_id else None
            if d.customer_id is not None:
                item["customer_id"] = str(d.customer_id)
        items.append(item)
    return items


async def check_on_write(unit: Unit, access: RecordAccess, entity: str, record: Mapping[str, Any], *,
                         region: str, default_action: str, exclude: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Duplicates of a record about to be written: 409 (kind ``duplicate``, with ``duplicates``)
    when a blocking rule matches; otherwise the warnings to put in the answer.

    Exact keys first: when a rule blocks, the btree lookups (phones, e-mails, USCC, the same name
    core) run alone, and a blocking match among them answers the 409 with those records, without
    the trigram search (the costly part; the write is refused whatever else it would find)."""
    rule_set = await rules(unit)
    in_force = resolved(rule_set, default_action)
    record = matchable(access, entity, record)
    excluded = [exclude] if exclude else []
    if any(in_force.action(r, default_action) == "block" for r in RULES):
        found = (await find_duplicates_batch(unit, entity, [record], exclude=excluded, region=region,
                                             rule_set=in_force, exact_only=True))[0]
        if blocking(found, rule_set, default_action):
            _refuse(entity, out(access, found))
    found = (await find_duplicates_batch(unit, entity, [record], exclude=excluded, region=region,
                                         rule_set=in_force))[0]
    if not found:
        return []
    answer = out(access, found)
    if blocking(found, rule_set, default_action):
        _refuse(entity, answer)
    return answer


def _refuse(entity: str, answer: list[dict[str, Any]]) -> NoReturn:
    raise Conflict(
        f"This {entity} looks like an existing one ({len(answer)} match(es)); the workspace's duplicate rule blocks it",
        kind="duplicate", extra={"duplicates": answer},
    )


def resolved(rule_set: DuplicateRules, default: str) -> DuplicateRules:
    """The rules with exact rules following the settings resolved, so the finder needs no settings."""
    return msgspec.structs.replace(rule_set, **{r: rule_set.action(r, default) for r in ("phone", "email", "uscc")})
