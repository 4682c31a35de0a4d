"""Workflow templates: ready workflows a tenant enables in one call.

A template is a function of a few parameters (what the tenant must name: a custom field, a
department, an approval template, a threshold) to a plain ``WorkflowCreate``; enabling one saves it
as a normal workflow (``domain/workflows.create``: the caller is the author, it can be edited and
disabled like any other). Missing or wrong parameters are one 422 naming each ``params.<name>``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from services.workflows.db import approvals as approvals_store
from services.workflows.domain import people
from services.workflows.domain import workflows as workflows_domain
from shared.auth import Principal
from shared.db import Unit
from shared.errors import FieldError, NotFound, ValidationProblem

ParamType = Literal["string", "number", "string_list", "custom_field", "department_id", "approval_template_id"]
# A custom field key as records accepts it (also keeps CEL built from it safe).
_FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Localized(msgspec.Struct, kw_only=True, rename={"zh_cn": "zh-CN"}):
    zh_cn: str
    en: str


class ParamOut(msgspec.Struct, kw_only=True):
    name: str
    type: ParamType
    required: bool
    default: Any | None
    description: Localized


class TemplateOut(msgspec.Struct, kw_only=True):
    key: str
    name: Localized
    description: Localized
    needs: list[ParamOut]


class TemplateList(msgspec.Struct, kw_only=True):
    items: list[TemplateOut]


class TemplateEnable(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    params: Annotated[dict[str, Any], msgspec.Meta(max_length=20)] = {}
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    enabled: bool = True


@dataclass(frozen=True)
class _Param:
    name: str
    type: ParamType
    zh: str
    en: str
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class _Template:
    key: str
    name: Localized
    description: Localized
    params: tuple[_Param, ...]
    build: Callable[[dict[str, Any]], dict[str, Any]]   # checked params -> {"triggers", "steps"}


def _sla_escalation(p: dict[str, Any]) -> dict[str, Any]:
    return {"triggers": [{"type": "sla.breached"}], "steps": [
        {"type": "branch", "condition": "record.head_id != null", "then": [
            {"type": "notify", "to": "record.head_id",
             "message": "客户异议已超出 SLA，请跟进 / An objection breached its SLA: please follow up"}],
         "else": [{"type": "notify", "to": "record.owner_id",
                   "message": "客户异议已超出 SLA / An objection breached its SLA"}]}]}


def _inactive(p: dict[str, Any]) -> dict[str, Any]:
    days = int(p["days"])
    return {"triggers": [{"type": "date", "entity": "customer", "field": "last_interaction_at", "offset": f"P{days}D",
                          "condition": 'record.owner_id != null && record.lifecycle_stage != "churned"'}],
            "steps": [{"type": "notify", "to": "record.owner_id",
                       "message": f"{days} 天没有沟通记录，请联系客户 / No interaction in {days} days: "
                                  "get in touch"},
                      {"type": "create_task", "title": f"回访客户（{days} 天未沟通）", "due_in": "P2D"}]}


def _high_tier(p: dict[str, Any]) -> dict[str, Any]:
    tiers = ", ".join(msgspec.json.encode(t).decode() for t in p["tiers"])
    return {"triggers": [{"type": "record.created", "entity": "customer", "condition": f"record.tier in [{tiers}]"},
                         {"type": "record.updated", "entity": "customer", "fields": ["tier"],
                          "condition": f"record.tier in [{tiers}] && !(old.tier in [{tiers}])"}],
            "steps": [{"type": "assign_owner", "user_id": p["_head"]},
                      {"type": "create_task", "title": "首次拜访 / Intro meeting", "due_in": "P3D",
                       "business_time": True}]}


def _renewal(p: dict[str, Any]) -> dict[str, Any]:
    days = int(p["days"])
    return {"triggers": [{"type": "date", "entity": "customer", "field": f"custom_fields.{p['field']}",
                          "offset": f"-P{days}D"}],
            "steps": [{"type": "create_task", "title": f"合同 {days} 天后到期，跟进续约 / Renewal due in {days} days",
                       "due_in": "P7D"}]}


def _onboarding(p: dict[str, Any]) -> dict[str, Any]:
    return {"triggers": [{"type": "record.updated", "entity": "opportunity", "fields": ["stage"],
                          "condition": 'record.status == "won" && old.status != "won"'}],
            "steps": [{"type": "create_task", "title": title, "due_in": due, "business_time": True}
                      for title, due in (("签约交接会 / Hand-over meeting", "P2D"),
                                         ("开通账号与培训 / Accounts and training", "P5D"),
                                         ("30 天回访 / 30-day check-in", "P30D"))]}


def _discount(p: dict[str, Any]) -> dict[str, Any]:
    stage = msgspec.json.encode(p["stage_name"]).decode()
    field = p["field"]
    condition = (f"record.stage_name == {stage} && has(record.custom_fields.{field}) && "
                 f"double(record.custom_fields.{field}) > {float(p['threshold'])}")
    return {"triggers": [{"type": "record.updated", "entity": "opportunity",
                          "fields": ["stage", f"custom_fields.{field}"], "condition": condition}],
            "steps": [{"type": "request_approval", "template_id": p["approval_template_id"]},
                      {"type": "branch", "condition": 'approval.status == "approved"',
                       "then": [{"type": "add_tags", "tags": ["折扣已批准"]}],
                       "else": [{"type": "add_tags", "tags": ["折扣未批准"]}]}]}


def _l(zh: str, en: str) -> Localized:
    return Localized(zh_cn=zh, en=en)


TEMPLATES: dict[str, _Template] = {t.key: t for t in (
    _Template("objection-sla-escalation", _l("客户异议 SLA 超时升级", "Objection SLA escalation"),
              _l("客户异议超出 SLA 时通知负责人的上级（无上级时通知负责人）",
                 "When an objection breaches its SLA, notify the head above its assignee (else its owner)"),
              (), _sla_escalation),
    _Template("no-interaction-reminder", _l("久未沟通提醒", "No interaction reminder"),
              _l("客户 N 天没有沟通记录时提醒负责人并创建回访任务",
                 "When a customer had no interaction for N days, remind the owner and create a follow-up task"),
              (_Param("days", "number", "未沟通天数", "days without an interaction", 30),), _inactive),
    _Template("high-tier-customer", _l("重点客户分配", "New high-tier customer"),
              _l("新的高等级客户分配给部门负责人并创建首次拜访任务",
                 "A new high-tier customer goes to the department's head, with an intro task"),
              (_Param("department_id", "department_id", "部门（其负责人接手）", "department whose head takes it"),
               _Param("tiers", "string_list", "高等级", "the high tiers", ["A"])), _high_tier),
    _Template("contract-renewal", _l("合同到期续约", "Contract renewal"),
              _l("合同到期前 N 天创建续约任务（日期自定义字段）",
                 "N days before the contract ends (a date custom field), create a renewal task"),
              (_Param("field", "custom_field", "合同到期日的自定义字段", "the custom field holding the end date"),
               _Param("days", "number", "提前天数", "days before", 30)), _renewal),
    _Template("opportunity-won-onboarding", _l("赢单交付", "Opportunity won onboarding"),
              _l("商机赢单后创建交付任务", "When an opportunity is won, create onboarding tasks"),
              (), _onboarding),
    _Template("discount-approval", _l("折扣审批", "Discount approval"),
              _l("商机进入某阶段且折扣超过 N% 时发起审批",
                 "An opportunity entering a stage with a discount over N % requests an approval"),
              (_Param("approval_template_id", "approval_template_id", "审批模板", "the approval template"),
               _Param("stage_name", "string", "阶段名称", "the stage's name", "报价"),
               _Param("field", "custom_field", "折扣自定义字段", "the discount custom field (percent)", "discount"),
               _Param("threshold", "number", "折扣阈值（%）", "discount threshold (%)", 10)), _discount),
)}


def listed() -> TemplateList:
    return TemplateList(items=[
        TemplateOut(key=t.key, name=t.name, description=t.description, needs=[
            ParamOut(name=p.name, type=p.type, required=p.required, default=p.default,
                     description=_l(p.zh, p.en)) for p in t.params]) for t in TEMPLATES.values()])


async def _checked(unit: Unit, template: _Template, given: dict[str, Any]) -> dict[str, Any]:
    """The template's parameters, defaults filled in, each wrong or missing one named in one 422."""
    errors: list[FieldError] = []
    known = {p.name for p in template.params}
    errors += [FieldError(f"params.{k}", f"the template {template.key} takes no such parameter", "unknown_field")
               for k in given if k not in known]
    out: dict[str, Any] = {}
    for p in template.params:
        where = f"params.{p.name}"
        value = given.get(p.name, p.default)
        if value is None:
            errors.append(FieldError(where, f"is required: {p.en}", "required"))
            continue
        if p.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3650:
                errors.append(FieldError(where, "must be a number from 1 to 3650", "invalid"))
                continue
        elif p.type == "string_list":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and 0 < len(v) <= 50
                                                                   for v in value):
                errors.append(FieldError(where, "must be a list of names", "invalid"))
                continue
        elif p.type == "custom_field":
            if not isinstance(value, str) or not _FIELD_KEY.match(value):
                errors.append(FieldError(where, "must be a custom field key (lower-case letters, digits, _)", "invalid"))
                continue
        elif p.type == "string":
            if not isinstance(value, str) or not 0 < len(value) <= 100:
                errors.append(FieldError(where, "must be a name of 1 to 100 characters", "invalid"))
                continue
        else:
            try:
                ident = uuid.UUID(str(value))
            except ValueError:
                errors.append(FieldError(where, "is not an id", "invalid"))
                continue
            if p.type == "department_id":
                head = await people.head_of(unit, ident)
                if head is None:
                    errors.append(FieldError(where, "no department with an active head", "no_head"))
                    continue
                out["_head"] = str(head)
            elif await approvals_store.get_template(unit, ident) is None:
                errors.append(FieldError(where, f"no approval template {ident}", "unknown_template"))
                continue
            value = str(ident)
        out[p.name] = value
    if errors:
        raise ValidationProblem(errors)
    return out


async def enable(unit: Unit, principal: Principal, key: str, body: TemplateEnable) -> workflows_domain.WorkflowOut:
    """Save the template as the caller's own workflow."""
    template = TEMPLATES.get(key)
    if template is None:
        raise NotFound(f"No workflow template {key}")
    params = await _checked(unit, template, body.params)
    built = template.build(params)
    create = msgspec.convert({"name": body.name or template.name.zh_cn, "description": template.description.zh_cn,
                              "enabled": body.enabled, **built}, workflows_domain.WorkflowCreate)
    return await workflows_domain.create(unit, principal, create)
