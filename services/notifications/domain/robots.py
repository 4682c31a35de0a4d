"""Chat robots: 钉钉 custom robots, 飞书 custom bots and 企业微信 group robots, per tenant, one per
group (a department's or a team's), fed the event types they subscribe to.

* 钉钉: ``https://oapi.dingtalk.com/robot/send?access_token=...``; with a secret (``SEC...``), each
  message is signed: ``timestamp`` (ms) and ``sign`` = URL-encoded base64 of
  HmacSHA256(secret, "<timestamp>\\n<secret>") as query parameters. Markdown messages; the answer's
  ``errcode`` must be 0. 20 messages a minute per robot.
* 飞书 (and Lark): ``https://open.feishu.cn/open-apis/bot/v2/hook/<token>``; with a secret, the
  body carries ``timestamp`` (s) and ``sign`` = base64 of HmacSHA256(key "<timestamp>\\n<secret>",
  empty message). Interactive cards; the answer's ``code`` must be 0. 100 a minute, 5 a second.
* 企业微信: ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`` (the key is the
  credential; no signing). Markdown messages; ``errcode`` 0. 20 a minute.

A robot with a ``department_id`` gets only events of records of that department (the
``department_id`` records' events carry).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec

from services.notifications.db import robots as store
from services.notifications.db import webhooks as deliveries_store
from services.notifications.domain import signing, ssrf
from services.notifications.domain.webhooks import AttemptOut, DeliveryOut, check_patterns, delivery_out
from shared.auth import Principal
from shared.db import Unit
from shared.errors import FieldError, NotFound, ValidationProblem
from shared.http.conditional import check_version

Platform = Literal["dingtalk", "feishu", "wecom"]
HOSTS: dict[str, tuple[str, ...]] = {
    "dingtalk": ("oapi.dingtalk.com",),
    "feishu": ("open.feishu.cn", "open.larksuite.com"),
    "wecom": ("qyapi.weixin.qq.com",),
}
# (messages, seconds) per robot, from each platform's documentation.
RATE_LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "dingtalk": ((20, 60.0),),
    "wecom": ((20, 60.0),),
    "feishu": ((100, 60.0), (5, 1.0)),
}
SECRET_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "dingtalk": (re.compile(r"^SEC[0-9A-Za-z]{16,128}$"), "a 钉钉 signing secret starts with SEC (SEC + letters and digits)"),
    "feishu": (re.compile(r"^[0-9A-Za-z]{8,128}$"), "a 飞书 signing secret is letters and digits"),
}
SHANGHAI = ZoneInfo("Asia/Shanghai")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["华东销售群"])]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=ssrf.MAX_URL_LENGTH,
                                  examples=["https://oapi.dingtalk.com/robot/send?access_token=abc"])]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["SEC0123456789abcdef0123456789abcdef"])]
Events = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]],
                   msgspec.Meta(min_length=1, max_length=100)]
UNSET = msgspec.UNSET


class RobotCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    platform: Platform
    name: Name
    webhook_url: Url
    events: Events
    secret: Secret | None = None
    department_id: uuid.UUID | None = None
    enabled: bool = True


class RobotPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | msgspec.UnsetType = UNSET
    webhook_url: Url | msgspec.UnsetType = UNSET
    secret: Secret | None | msgspec.UnsetType = UNSET
    events: Events | msgspec.UnsetType = UNSET
    department_id: uuid.UUID | None | msgspec.UnsetType = UNSET
    enabled: bool | msgspec.UnsetType = UNSET


class RobotOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    platform: str
    name: str
    webhook_url: str  # its token is the robot's credential: shown to those who manage robots only
    has_secret: bool
    events: list[str]
    department_id: uuid.UUID | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


def robot_out(row: Any) -> RobotOut:
    return RobotOut(
        id=row["id"], platform=row["platform"], name=row["name"], webhook_url=row["webhook_url"],
        has_secret=row["secret"] is not None, events=list(row["events"]), department_id=row["department_id"],
        enabled=row["enabled"], disabled_reason=row["disabled_reason"], failing_since=row["failing_since"],
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"])


def _check(platform: str, url: str | None, secret: str | None, allow_private: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    if url is not None:
        errors += ssrf.check_url(url, "webhook_url", allow_private=allow_private, hosts=HOSTS[platform])
    if secret is not None:
        shape = SECRET_SHAPES.get(platform)
        if shape is None:
            errors.append(FieldError("secret", "企业微信 group robots are not signed: the key in the URL is the "
                                     "credential; leave secret out", "not_allowed"))
        elif not shape[0].match(secret):
            errors.append(FieldError("secret", f"has the wrong shape: {shape[1]}", "invalid_secret"))
    return errors


async def create(unit: Unit, principal: Principal, body: RobotCreate, *, allow_private: bool) -> RobotOut:
    errors = _check(body.platform, body.webhook_url, body.secret, allow_private)
    errors += check_patterns(body.events, principal)
    if errors:
        raise ValidationProblem(errors)
    row = await store.insert(unit, platform=body.platform, name=body.name, webhook_url=body.webhook_url,
                             secret=body.secret, events=body.events, department_id=body.department_id,
                             enabled=body.enabled, created_by=principal.user_id)
    return robot_out(row)


async def _robot(unit: Unit, robot_id: uuid.UUID, *, for_update: bool = False) -> Any:
    row = await store.get(unit, robot_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No chat robot {robot_id}")
    return row


async def get(unit: Unit, robot_id: uuid.UUID) -> RobotOut:
    return robot_out(await _robot(unit, robot_id))


async def update(unit: Unit, principal: Principal, robot_id: uuid.UUID, body: RobotPatch,
                 expected_version: int | None, *, allow_private: bool) -> RobotOut:
    row = await _robot(unit, robot_id, for_update=True)
    check_version(expected_version, row["version"], "chat robot")
    url = None if body.webhook_url is UNSET else body.webhook_url
    secret = None if body.secret is UNSET else body.secret
    errors = _check(row["platform"], url, secret, allow_private)
    if body.events is not UNSET:
        errors += check_patterns(body.events, principal)
    if errors:
        raise ValidationProblem(errors)
    changes: dict[str, Any] = {name: value for name in ("name", "webhook_url", "secret", "events", "department_id",
                                                         "enabled")
                               if (value := getattr(body, name)) is not UNSET}
    if changes.get("enabled") is True:
        changes.update(disabled_reason=None, failing_since=None)
    if not changes:
        return robot_out(row)
    return robot_out(await store.update(unit, robot_id, changes))


async def delete(unit: Unit, robot_id: uuid.UUID) -> None:
    await deliveries_store.delete_target(unit, robot_id)
    if not await store.delete(unit, robot_id):
        raise NotFound(f"No chat robot {robot_id}")


async def deliveries(unit: Unit, robot_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None,
                     limit: int) -> list[DeliveryOut]:
    await _robot(unit, robot_id)
    rows = await deliveries_store.page_deliveries(unit, robot_id, after=after, limit=limit, status=None)
    by_delivery: dict[uuid.UUID, list[Any]] = {}
    for attempt in await deliveries_store.attempts_of(unit, [r["id"] for r in rows]):
        by_delivery.setdefault(attempt["delivery_id"], []).append(attempt)
    return [delivery_out(r, by_delivery.get(r["id"], [])) for r in rows]


def for_department(robot: Any, payload: dict[str, Any]) -> bool:
    """A department's robot hears only of its department's records."""
    if robot["department_id"] is None:
        return True
    return str((payload.get("data") or {}).get("department_id")) == str(robot["department_id"])


# --- messages ---------------------------------------------------------------------------------------

ENTITY_ZH = {"customer": "客户", "contact": "联系人", "interaction": "沟通记录", "objection": "客户异议",
             "task": "跟进任务", "opportunity": "商机", "handover": "离职交接", "pipeline": "销售流程",
             "custom_field": "自定义字段", "user": "用户", "department": "部门", "role": "角色",
             "invitation": "邀请", "api_key": "API 密钥", "workflow": "自动化流程"}
ACTION_ZH = {"created": "新建", "updated": "更新", "deleted": "删除", "restored": "恢复", "transferred": "转移",
             "claimed": "被领取", "returned_to_pool": "退回公海", "pool_warning": "即将退回公海", "merged": "合并",
             "merge_undone": "撤销合并", "status_changed": "状态变更", "completed": "完成", "retired": "停用",
             "deactivated": "停用", "reactivated": "重新启用", "roles_changed": "角色变更", "accepted": "已接受",
             "revoked": "撤销"}
ACTOR_ZH = {"user": "用户", "api_key": "API 密钥", "system": "系统", "operator": "平台运维", "workflow": "自动化流程"}
# What names a record in a message; never a contact detail (a role may hide those).
_LABEL_FIELDS = ("name", "title", "summary", "subject")


def _escape(text: str) -> str:
    """Markdown that a record's text cannot break (links, emphasis, headings)."""
    return re.sub(r"([\\`*_\[\]#<>|])", r"\\\1", text)[:200]


def message_lines(payload: dict[str, Any]) -> tuple[str, list[str]]:
    """(title, lines) in zh-CN for an event envelope."""
    entity, _, action = str(payload.get("type", "")).partition(".")
    title = f"{ENTITY_ZH.get(entity, entity)}{ACTION_ZH.get(action, action)}"
    data = payload.get("data") or {}
    record = data.get("record") if isinstance(data.get("record"), dict) else data
    label = next((str(record[f]) for f in _LABEL_FIELDS if isinstance(record, dict) and record.get(f)), None)
    lines = []
    if label:
        lines.append(f"名称：{_escape(label)}")
    changes = data.get("changes")
    if isinstance(changes, dict) and changes:
        lines.append(f"变更字段：{_escape('、'.join(list(changes)[:10]))}")
    actor = payload.get("actor") or {}
    lines.append(f"操作人：{ACTOR_ZH.get(str(actor.get('kind')), str(actor.get('kind')))}")
    try:
        moment = datetime.fromisoformat(str(payload.get("occurred_at"))).astimezone(SHANGHAI)
        lines.append(f"时间：{moment:%Y-%m-%d %H:%M}（北京时间）")
    except ValueError:
        pass
    lines.append(f"编号：{payload.get('entity_id')}")
    return title, lines


def request_of(robot: Any, payload: dict[str, Any], now: float | None = None) -> tuple[str, dict[str, Any]]:
    """The URL to POST to and the JSON body, signed as the platform wants."""
    now = time.time() if now is None else now
    title, lines = message_lines(payload)
    url = robot["webhook_url"]
    platform = robot["platform"]
    if platform == "dingtalk":
        text = f"#### {title}\n\n" + "\n\n".join(f"- {line}" for line in lines)
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        if robot["secret"]:
            timestamp = int(now * 1000)
            sign = signing.dingtalk_sign(robot["secret"], timestamp)
            url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={sign}"
        return url, body
    if platform == "feishu":
        body = {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": "blue"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(lines)}}],
        }}
        if robot["secret"]:
            timestamp = int(now)
            body = {"timestamp": str(timestamp), "sign": signing.feishu_sign(robot["secret"], timestamp), **body}
        return url, body
    text = f"**{title}**\n" + "\n".join(f"> {line}" for line in lines)
    return url, {"msgtype": "markdown", "markdown": {"content": text}}


def refusal(platform: str, answer: Any) -> str | None:
    """The platform's error in a 200 answer (bad signature, rate limited, ...), or None."""
    if not isinstance(answer, dict):
        return "the answer is not a JSON object"
    code = answer.get("code", answer.get("StatusCode")) if platform == "feishu" else answer.get("errcode")
    if code == 0:
        return None
    message = answer.get("msg") or answer.get("errmsg") or answer.get("StatusMessage") or ""
    return f"{platform} refused the message: {code} {message}".strip()


__all__ = ["AttemptOut", "DeliveryOut", "RATE_LIMITS", "RobotCreate", "RobotOut", "RobotPatch", "refusal",
           "request_of"]
