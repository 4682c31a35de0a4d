"""The message catalogue of problem answers: English and Chinese (``Accept-Language: zh-CN``).

A problem's ``title`` is looked up by its kind (every kind has a Chinese title, falling back to
its HTTP status), a validation error's ``message`` by its code and parameters. Free English text
that has no entry here (a domain's specific ``detail``) stays English: the Chinese answer then
adds the English wording in brackets after the translated message rather than losing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EN = "en"
ZH = "zh"
LANGUAGES = (EN, ZH)


def language_of(accept_language: str | None) -> str:
    """``zh`` when the caller prefers Chinese (zh, zh-CN, zh-Hans, ... by q-value), else ``en``."""
    best, best_q = EN, 0.0
    for part in (accept_language or "").split(",")[:20]:  # bounded: a header is client input
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = ZH if tag == "zh" or tag.startswith("zh-") else EN if tag in ("en", "*") or tag.startswith("en-") else None
        if language is not None and q > best_q:
            best, best_q = language, q
    return best


# --- titles ---------------------------------------------------------------------------------------

# Chinese titles by problem kind (``type`` without the urn prefix).
TITLES_ZH: dict[str, str] = {
    # generic kinds (the Problem classes and the framework's errors)
    "bad-request": "请求有误",
    "validation-error": "输入无效",
    "malformed-body": "请求体格式错误",
    "unauthorized": "需要身份验证",
    "forbidden": "无权操作",
    "not-found": "未找到",
    "method-not-allowed": "不支持该请求方法",
    "conflict": "冲突",
    "gone": "已不存在",
    "precondition-failed": "前置条件不满足",
    "payload-too-large": "请求体过大",
    "grant-exceeds-own-rights": "授予的权限超出了您自己的权限",
    "not-manual": "该流程不能手动启动",
    "invalid-webhook-secret": "Webhook 密钥无效",
    "workflow-disabled": "流程已停用",
    "records-unavailable": "客户记录服务暂不可用",
    "run-not-cancellable": "该运行无法取消",
    "run-not-failed": "只有失败的运行可以重试",
    "approval-pending": "该记录有待审批的申请",
    "sla-ended": "该异议已解决，SLA 计时已结束",
    "approval-finished": "审批已结束",
    "not-an-approver": "您不是当前审批步骤的审批人",
    "already-decided": "您已审批过该步骤",
    "template-disabled": "审批模板已停用",
    "not-the-submitter": "只有提交人可以撤回",
    "login-rate-limited": "登录尝试过于频繁",
    "unsupported-media-type": "不支持的内容类型",
    "too-many-requests": "请求过于频繁",
    "internal-error": "服务器内部错误",
    "http-error": "请求错误",
    "not-ready": "服务未就绪",
    "service-unavailable": "服务暂不可用",
    "identity-unavailable": "服务暂不可用",
    # authentication and sessions
    "missing-credentials": "缺少身份凭证",
    "invalid-credentials": "身份凭证无效",
    "invalid-token": "令牌无效",
    "token-expired": "令牌已过期",
    "invalid-api-key": "API 密钥无效",
    "invalid-refresh-token": "刷新令牌无效",
    "refresh-token-reused": "刷新令牌被重复使用",
    "session-required": "需要登录会话",
    "session-expired": "会话已过期",
    "session-ended": "会话已结束",
    "csrf-failed": "跨站请求校验失败",
    "login-locked": "登录已被暂时锁定",
    "account-inactive": "账号已停用",
    "user-deactivated": "用户已停用",
    "operator-only": "仅限平台运维人员",
    # tenants, users, roles
    "tenant-suspended": "工作区已暂停",
    "tenant-pending-deletion": "工作区待删除",
    "tenant-deleted": "工作区已删除",
    "slug-taken": "工作区标识已被占用",
    "email-taken": "邮箱已被使用",
    "role-key-taken": "角色标识已被占用",
    "builtin-role": "内置角色不可修改",
    "last-admin": "至少需要保留一名管理员",
    "cannot-deactivate-self": "不能停用自己",
    "invitation-accepted": "邀请已被接受",
    "department-not-empty": "部门不为空",
    "department-name-taken": "部门名称已被使用",
    "department-cycle": "部门层级出现循环",
    "permission-denied": "权限不足",
    "field-hidden": "字段对你的角色隐藏",
    "field-not-writable": "字段不可修改",
    # records
    "stale-version": "记录已被他人修改",
    "concurrent-change": "记录正被同时修改",
    "idempotency-in-progress": "相同的请求正在处理中",
    "customer-not-found": "未找到客户",
    "contact-not-found": "未找到联系人",
    "custom-field-not-found": "未找到自定义字段",
    "custom-field-key-taken": "自定义字段标识已被使用",
    "unique-value-taken": "该值已被其他记录使用",
    "duplicate": "疑似重复记录",
    "duplicate-scan-not-found": "未找到查重任务",
    "illegal-status-move": "不允许的状态变更",
    "restore-window-passed": "已超过可恢复期限",
    "name-taken": "名称已被使用",
    "default-race": "默认项正被同时修改",
    "default-pipeline": "默认销售流程不可删除",
    "pipeline-in-use": "销售流程仍在使用中",
    "stage-in-use": "阶段仍在使用中",
    "last-stage": "至少需要保留一个阶段",
    "too-many-stages": "阶段过多",
    "already-in-pool": "客户已在公海中",
    "already-claimed": "客户已被领取",
    "claim-cooldown": "领取冷却期内",
    "claim-limit-reached": "已达到领取上限",
    "held-limit-reached": "已达到持有客户上限",
    "merge-not-found": "未找到合并记录",
    "merge-not-undoable": "该合并无法撤销",
    "merge-too-old": "合并时间过久，无法撤销",
    "merge-undone": "合并已被撤销",
    "import-not-found": "未找到导入任务",
    "import-errors-deleted": "导入错误报告已删除",
    "mapping-not-found": "未找到字段映射",
    "mapping-exists": "字段映射已存在",
    "malformed-multipart": "表单数据格式错误",
    "export-not-found": "未找到导出任务",
    "export-not-ready": "导出尚未完成",
    "export-file-deleted": "导出文件已删除",
    "attachment-not-found": "未找到附件",
    "saved-view-not-found": "未找到保存的视图",
    "saved-view-not-yours": "只有视图的创建者可以修改或删除它",
}

# Chinese by HTTP status: the title of a kind this catalogue does not know yet.
STATUS_ZH: dict[int, str] = {
    400: "请求有误", 401: "需要身份验证", 403: "无权操作", 404: "未找到", 405: "不支持该请求方法",
    406: "无法提供所需格式", 408: "请求超时", 409: "冲突", 410: "已不存在", 411: "缺少内容长度",
    412: "前置条件不满足", 413: "请求体过大", 414: "网址过长", 415: "不支持的内容类型",
    416: "范围无效", 422: "输入无效", 423: "已锁定", 428: "需要前置条件", 429: "请求过于频繁",
    431: "请求头过大", 500: "服务器内部错误", 501: "未实现", 502: "网关错误", 503: "服务暂不可用",
    504: "网关超时",
}


def title(kind: str, english: str, status: int, language: str) -> str:
    if language != ZH:
        return english
    return TITLES_ZH.get(kind) or STATUS_ZH.get(status) or ("客户端错误" if status < 500 else "服务器错误")


# --- validation messages --------------------------------------------------------------------------

# code -> (English template, Chinese template). Templates use the error's ``params``; a code that
# needs parameters it was not given falls back to GENERIC_ZH (plus the English wording).
MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("is required", "必填"),
    "body_required": ("a JSON object with the fields to change is required", "需要一个包含要修改字段的 JSON 对象"),
    "unknown_field": ("is not a known field; known fields: {known}", "不是可用的字段；可用字段：{known}"),
    "wrong_type": ("must be {expected} (got {got})", "应为{expected_zh}（收到的是{got_zh}）"),
    "out_of_range": ("must be {op} {bound}", "必须{op_zh} {bound}"),
    "too_long": ("must be at most {max} {unit}", "最多 {max} {unit_zh}"),
    "too_short": ("must be at least {min} {unit}", "至少 {min} {unit_zh}"),
    "empty": ("must not be empty", "不能为空"),
    "not_one_of": ("must be one of: {allowed}", "必须是以下之一：{allowed}"),
    "invalid_format": ("must be {format}", "应为{format_zh}"),
    "too_deep": ("is nested too deeply", "嵌套层级过深"),
}

# A Chinese message for every code, used without parameters.
GENERIC_ZH: dict[str, str] = {
    "required": "必填", "body_required": "需要请求体", "exceeds_own_rights": "超出了您自己的权限",
    "nul_character": "含有无法保存的空字符（NUL）", "invalid_time_zone": "不是有效的时区（如 Asia/Shanghai）", "pattern_unsupported": "该正则表达式无法安全执行", "unknown_field": "不是可用的字段", "unknown": "不是可用的参数",
    "invalid_condition": "条件表达式无效", "invalid_cron": "定时表达式（cron）无效", "invalid_duration": "时长格式无效",
    "not_available": "暂不可用",
    "wrong_type": "类型错误", "out_of_range": "超出允许范围", "too_long": "过长", "too_short": "过短",
    "too_many": "数量过多", "too_few": "数量过少", "too_large": "过大", "too_deep": "嵌套层级过深",
    "invalid": "取值无效", "not_one_of": "不是允许的取值", "invalid_format": "格式无效", "malformed": "格式错误",
    "empty": "不能为空", "blank": "不能为空白", "repeated": "只能出现一次", "duplicate": "存在重复",
    "taken": "已被使用", "conflict": "与现有数据冲突", "unchanged": "与当前值相同",
    "not_allowed": "不允许", "hidden": "对你的角色隐藏", "incorrect": "不正确", "in_past": "不能早于现在",
    "after_due": "不能晚于截止时间", "invalid_range": "范围无效", "cycle": "会形成循环",
    "weak_password": "密码强度不足", "invalid_slug": "标识格式无效", "invalid_region": "地区代码无效",
    "invalid_phone": "电话号码无效", "invalid_email": "邮箱地址无效", "invalid_locale": "语言代码无效",
    "unknown_user": "用户不存在", "deactivated_user": "用户已停用", "unknown_customer": "客户不存在",
    "unknown_department": "部门不存在", "unknown_role": "角色不存在", "unknown_entity": "实体类型不存在",
    "unknown_action": "操作不存在", "unknown_pipeline": "销售流程不存在", "wrong_pipeline": "不属于该销售流程",
    "unknown_column": "列不存在", "unknown_category": "分类不存在", "several_primary": "只能有一个主要项",
    "self_merge": "不能与自身合并", "same_user": "不能是同一个用户", "retired": "已停用",
    "required_by_stage": "进入该阶段前必须填写", "no_rule": "没有适用的规则", "path": "路径无效",
    "query": "查询参数无效", "header": "请求头无效", "cookie": "Cookie 无效", "body": "请求体无效",
    "control_characters": "不能包含控制字符", "default_required": "必须设置默认值", "invalid_amount": "金额格式无效",
    "invalid_currency": "币种代码无效（应为 ISO 4217，如 CNY）", "invalid_scope": "权限范围无效",
    "invalid_successor": "交接对象无效", "invalid_url": "网址无效", "invalid_uscc": "统一社会信用代码无效",
    "not_a_permutation": "必须恰好列出每一项各一次", "not_in_merge": "不在本次合并的记录中",
    "not_rateable": "当前状态下不能评分", "option_in_use": "该选项仍在使用中", "pattern": "不符合要求的格式",
    "reused": "不能重复使用", "unknown_contact": "联系人不存在", "unknown_interaction": "沟通记录不存在",
    "unknown_option": "不是可选的选项", "unknown_rule": "规则不存在", "unknown_scope": "权限范围不存在",
    "unknown_severity": "严重程度不存在",
    "unknown_type": "通知类型不存在", "unknown_channel": "通知渠道不存在",
    "invalid_quiet_hours": "免打扰时段格式无效（应为 HH:MM-HH:MM，如 22:00-08:00）",
    "locked": "审批中，暂不能修改", "unknown_template": "审批模板不存在", "condition_not_met": "不满足审批模板的条件",
    "no_approver": "没有可用的审批人", "already_approver": "已是该步骤的审批人或提交人",
    "no_head": "该部门不存在或没有在职的负责人",
    # attachments
    "executable": "是程序或脚本，不接受可执行文件", "type_mismatch": "文件扩展名与文件内容不符",
    # outgoing webhooks and chat robots
    "unknown_event_type": "不是可订阅的事件类型", "private_address": "不能指向内网、本机或云元数据地址",
    "wrong_host": "不是该平台的机器人地址", "invalid_secret": "密钥格式不正确（钉钉的加签密钥以 SEC 开头）",
}

_TYPE_ZH = {
    "a string": "字符串", "an integer": "整数", "a number": "数字", "true or false": "布尔值（true 或 false）",
    "an array": "数组", "an object": "对象", "null": "null", "a date-time (RFC 3339)": "日期时间（RFC 3339）",
    "a date (YYYY-MM-DD)": "日期（YYYY-MM-DD）", "a UUID": "UUID", "a decimal string": "十进制数字字符串",
    "a time (HH:MM:SS)": "时间（HH:MM:SS）", "a duration": "时长", "bytes": "二进制数据",
}
_OP_ZH = {">=": "大于或等于", ">": "大于", "<=": "小于或等于", "<": "小于", "a multiple of": "是以下值的倍数："}
_UNIT_ZH = {"characters": "个字符", "items": "项", "fields": "个字段", "bytes": "字节"}


def _zh_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in ("expected", "got", "format"):
        if key in out:
            out[key + "_zh"] = _TYPE_ZH.get(str(out[key]), str(out[key]))
    if "op" in out:
        out["op_zh"] = _OP_ZH.get(str(out["op"]), str(out["op"]))
    if "unit" in out:
        out["unit_zh"] = _UNIT_ZH.get(str(out["unit"]), str(out["unit"]))
    return out


def english(code: str, params: Mapping[str, Any]) -> str:
    template = MESSAGES.get(code, ("", ""))[0]
    try:
        return template.format(**params) if template else code.replace("_", " ")
    except (KeyError, IndexError, ValueError):
        return code.replace("_", " ")


def message(code: str | None, english_text: str, params: Mapping[str, Any] | None, language: str) -> str:
    """A validation error's message in ``language``."""
    if language != ZH:
        return english_text
    code = code or "invalid"
    template = MESSAGES.get(code)
    if template is not None:
        try:
            return template[1].format(**_zh_params(params or {}))
        except (KeyError, IndexError, ValueError):
            pass  # parameters missing: the generic message below
    generic = GENERIC_ZH.get(code) or GENERIC_ZH["invalid"]
    if english_text and english_text != english(code, params or {}) and english_text != code.replace("_", " "):
        return f"{generic}（{english_text}）"
    return generic


# --- details the platform writes ------------------------------------------------------------------

DETAILS_ZH: dict[str, str] = {
    "malformed-body": "请求体不是有效的 JSON；请以 Content-Type: application/json 发送一个 JSON 对象",
    "internal-error": "发生了意外错误，已记录日志",
    "payload-too-large": "请求体超过了服务器允许的大小",
    "not-found-route": "{method} {path} 没有对应的资源",
    "method-not-allowed": "{path} 不支持 {method} 方法",
    "validation-summary": "请求中有 {count} 处输入错误：{items}",
    "unsupported-media-type": "请以 {accepts} 发送请求体（收到的是 {got}）",
}


def detail(key: str, language: str, english_text: str, **params: Any) -> str:
    """The platform's own ``detail`` texts in ``language`` (domain texts stay as they are)."""
    if language != ZH or key not in DETAILS_ZH:
        return english_text
    try:
        return DETAILS_ZH[key].format(**params)
    except (KeyError, IndexError, ValueError):
        return english_text


__all__ = ["EN", "GENERIC_ZH", "LANGUAGES", "MESSAGES", "TITLES_ZH", "ZH", "detail", "english", "language_of",
           "message", "title"]
