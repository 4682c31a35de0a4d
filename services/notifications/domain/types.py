"""The notification types: who is told what, on which channels by default, in which words.

Each type is one row of ``TYPES`` (the README's table is this list): its key, the default audience
(documented; the source handlers in ``domain/sources.py`` pick the actual recipients), the default
channels, whether it is a security type (in-app always on, never held by quiet hours or digests),
and its zh-CN and en templates. Templates are ``str.format`` strings over the notification's
params; a param missing from them (a hidden field) renders as an empty string, never as a name.
"""

from __future__ import annotations

import html
import string
from dataclasses import dataclass
from typing import Any

CHANNELS: tuple[str, ...] = ("in_app", "email")
LOCALES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@dataclass(frozen=True)
class Template:
    title: str
    body: str


@dataclass(frozen=True)
class NotificationType:
    key: str
    audience: str
    channels: tuple[str, ...]
    zh: Template
    en: Template
    security: bool = False
    inbox: bool = True  # False: the recipient is not (yet) a user who can log in (mail only)

    def template(self, locale: str) -> Template:
        return self.en if locale.lower().startswith("en") else self.zh


def _t(title: str, body: str) -> Template:
    return Template(title, body)


TYPES: tuple[NotificationType, ...] = (
    NotificationType("task.reminder_due", "the task's assignee", ("in_app", "email"),
                     _t("任务提醒：{title}", "任务「{title}」将于 {due_at} 到期。"),
                     _t("Reminder: {title}", "The task \"{title}\" is due {due_at}.")),
    NotificationType("task.overdue", "the task's assignee", ("in_app", "email"),
                     _t("任务已逾期：{title}", "任务「{title}」已于 {due_at} 逾期，请尽快处理。"),
                     _t("Overdue: {title}", "The task \"{title}\" was due {due_at}.")),
    NotificationType("follow_up.due", "the customer's owner", ("in_app",),
                     _t("今日待跟进：{customer_name}", "今天需要跟进客户「{customer_name}」。"),
                     _t("Follow up today: {customer_name}", "A follow-up with {customer_name} is due today.")),
    NotificationType("objection.assigned", "the new assignee", ("in_app", "email"),
                     _t("新的客户异议分配给你", "客户异议（{category}，{severity}）已分配给你：{description}"),
                     _t("An objection was assigned to you", "An objection ({category}, {severity}) is yours now: {description}")),
    NotificationType("objection.sla_warning", "the assignee", ("in_app", "email"),
                     _t("客户异议即将超时", "客户异议「{title}」将于 {due_at} 超过处理时限。"),
                     _t("Objection SLA at risk", "The objection \"{title}\" is due {due_at}.")),
    NotificationType("objection.sla_breached", "the assignee and the department head", ("in_app", "email"),
                     _t("客户异议已超时", "客户异议「{title}」已超过处理时限（{due_at}）。"),
                     _t("Objection SLA breached", "The objection \"{title}\" passed its due time ({due_at}).")),
    NotificationType("approval.requested", "the approvers of the step", ("in_app", "email"),
                     _t("待你审批：{title}", "「{title}」等待你审批。"),
                     _t("Approval waiting for you: {title}", "\"{title}\" waits for your decision.")),
    NotificationType("approval.decided", "the requester", ("in_app", "email"),
                     _t("审批结果：{title}", "你提交的「{title}」已被{decision_zh}。"),
                     _t("Approval decided: {title}", "Your request \"{title}\" was {decision}.")),
    NotificationType("workflow.message", "whom a workflow's notify step names", ("in_app",),
                     _t("流程通知", "{message}"),
                     _t("Workflow notice", "{message}")),
    NotificationType("customer.transferred", "the new owner (a burst is one notification)", ("in_app",),
                     _t("{count} 个客户转给了你", "客户「{name}」等 {count} 个客户已转给你。"),
                     _t("{count} customer(s) transferred to you", "{name} and the others ({count} in all) are now yours.")),
    NotificationType("customer.pool_warning", "the owner (a burst is one notification)", ("in_app", "email"),
                     _t("{count} 个客户即将退回公海", "客户「{name}」等 {count} 个客户将于 {return_at} 退回公海，请及时跟进。"),
                     _t("{count} customer(s) about to return to the pool",
                        "{name} and others ({count} in all) return to the public pool on {return_at} unless followed up.")),
    NotificationType("customer.returned_to_pool", "the previous owner (a burst is one notification)", ("in_app",),
                     _t("{count} 个客户已退回公海", "客户「{name}」等 {count} 个客户已退回公海。"),
                     _t("{count} customer(s) returned to the pool", "{name} and others ({count} in all) went back to the public pool.")),
    NotificationType("handover.report", "the successor and whoever ran the handover", ("in_app", "email"),
                     _t("离职交接完成", "交接已完成：{customers} 个客户、{tasks} 个任务、{objections} 个异议已转交。"),
                     _t("Handover complete", "Handed over: {customers} customers, {tasks} tasks, {objections} objections.")),
    NotificationType("mention", "the user named with @", ("in_app", "email"),
                     _t("{actor_name} 提到了你", "{actor_name} 在{entity_zh}中提到了你：{excerpt}"),
                     _t("{actor_name} mentioned you", "{actor_name} mentioned you in an {entity}: {excerpt}")),
    NotificationType("import.finished", "who started the import", ("in_app", "email"),
                     _t("导入完成", "导入已完成：成功 {rows_done} 行，失败 {rows_failed} 行。"),
                     _t("Import finished", "Your import finished: {rows_done} rows done, {rows_failed} failed.")),
    NotificationType("import.failed", "who started the import", ("in_app", "email"),
                     _t("导入失败", "导入失败：{reason}"),
                     _t("Import failed", "Your import failed: {reason}")),
    NotificationType("export.ready", "who asked for the export", ("in_app", "email"),
                     _t("导出文件已就绪", "你的导出（{entity}，{rows} 行）已可下载。"),
                     _t("Your export is ready", "Your export ({entity}, {rows} rows) is ready to download.")),
    NotificationType("digest.daily", "each user with held notifications", ("email",),
                     _t("每日摘要", "今天有 {count} 条通知：\n{lines}"),
                     _t("Daily digest", "{count} notifications today:\n{lines}")),
    NotificationType("invitation", "the invited address (not a user yet)", ("email",),
                     _t("{inviter_name} 邀请你加入 {tenant_name}", "{inviter_name} 邀请你加入汇客工作区「{tenant_name}」。打开链接接受邀请（{expires_at} 前有效）：\n{link}"),
                     _t("{inviter_name} invited you to {tenant_name}", "{inviter_name} invited you to the Huike workspace \"{tenant_name}\". Accept before {expires_at}:\n{link}"),
                     security=True, inbox=False),
    NotificationType("password.reset", "the account's user", ("email",),
                     _t("重置你的汇客密码", "有人请求重置你在「{tenant_name}」的密码。如果是你本人，请在 {expires_at} 前打开链接：\n{link}\n如果不是你，请忽略此邮件。"),
                     _t("Reset your Huike password", "Someone asked to reset your password in \"{tenant_name}\". If it was you, open this link before {expires_at}:\n{link}\nIf not, ignore this mail."),
                     security=True, inbox=False),
    NotificationType("login.new_place", "the user who logged in", ("in_app", "email"),
                     _t("新地点登录提醒", "你的账号从新的地址 {source_ip} 登录。如果不是你本人，请立即修改密码。"),
                     _t("Login from a new place", "Your account logged in from a new address, {source_ip}. If it was not you, change your password now."),
                     security=True),
    NotificationType("api_key.created", "the key's owner", ("in_app", "email"),
                     _t("新建了 API 密钥", "你的账号新建了 API 密钥「{name}」（{prefix}…）。"),
                     _t("API key created", "An API key \"{name}\" ({prefix}…) was created for your account."),
                     security=True),
)

BY_KEY: dict[str, NotificationType] = {t.key: t for t in TYPES}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_FORMATTER = string.Formatter()


def _format(template: str, params: dict[str, Any]) -> str:
    # Only plain {name} fields: a value is never re-read as a template, and no attribute access.
    out: list[str] = []
    values = _Blank({k: v for k, v in params.items() if v is not None})
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        out.append(literal)
        if name is not None:
            out.append(str(values[name]))
    return "".join(out)


def render(type_key: str, params: dict[str, Any], locale: str) -> tuple[str, str]:
    """(title, body) of a notification in ``locale`` (zh-CN unless it is English)."""
    kind = BY_KEY[type_key]
    template = kind.template(locale)
    return _format(template.title, params), _format(template.body, params)


def render_mail(type_key: str, params: dict[str, Any], locale: str, *, tenant_name: str, link: str | None
                ) -> dict[str, str]:
    """Subject, plain text and HTML of a notification's mail: the tenant's name and a link back."""
    title, body = render(type_key, params, locale)
    english = locale.lower().startswith("en")
    footer = (f"— {tenant_name} · Huike" if english else f"— {tenant_name} · 汇客")
    open_text = "Open in Huike" if english else "在汇客中查看"
    text = body + (f"\n\n{open_text}: {link}" if link else "") + f"\n\n{footer}\n"
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in body.split("\n") if line)
    button = f'<p><a href="{html.escape(link, quote=True)}">{html.escape(open_text)}</a></p>' if link else ""
    page = (f'<!doctype html><html lang="{"en" if english else "zh-CN"}"><body>'
            f"<h2>{html.escape(title)}</h2>{paragraphs}{button}"
            f'<p style="color:#888">{html.escape(footer)}</p></body></html>')
    subject = f"[{tenant_name}] {title}" if tenant_name else title
    return {"subject": subject, "text": text, "html": page}
