"""Realistic Chinese and English CRM data for the records benchmark, fast enough for millions of rows.

Faker (zh_CN, en_US) makes pools of company names, people, streets and domains once; rows combine
pool entries with a seeded ``random.Random``, so 3,000,000 interactions take well under a minute.
Every value is what the API itself would accept and store: E.164 phones (+86 mobiles, US
numbers), lower-case e-mails, unified social credit codes with a valid GB 32100 check character
(and a valid GB 11714 organisation code inside), lifecycle stages and channels of the schema.

    data = RecordsData(seed=7)
    row = data.customer_row(tenant_id, owners, now)     # a tuple in CUSTOMER_COLUMNS order (COPY)
    body = data.customer_body()                         # a POST /api/v1/customers body
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

# Columns the loader COPYs; the rest keep their defaults (custom_fields '{}', deleted_at NULL, and
# last_interaction_at / next_follow_up_at, set afterwards from the interactions).
CUSTOMER_COLUMNS = (
    "tenant_id", "id", "version", "created_at", "updated_at", "created_by", "updated_by", "owner_id", "department_id",
    "name", "aliases", "kind", "uscc", "phones", "emails", "primary_phone", "primary_email", "website", "industry",
    "address", "source", "lifecycle_stage", "tier", "tags",
)
INTERACTION_COLUMNS = (
    "tenant_id", "id", "customer_id", "user_ids", "channel", "direction", "occurred_at", "summary", "details",
    "sentiment", "next_step", "next_follow_up_at", "owner_id", "department_id", "version", "created_at", "updated_at",
    "created_by", "updated_by",
)

# (city + district, 6-digit administrative division code): addresses and the USCC region part agree.
DISTRICTS = (
    ("北京市朝阳区", "110105"), ("北京市海淀区", "110108"), ("北京市东城区", "110101"), ("上海市浦东新区", "310115"),
    ("上海市徐汇区", "310104"), ("上海市闵行区", "310112"), ("广州市天河区", "440106"), ("广州市番禺区", "440113"),
    ("深圳市南山区", "440305"), ("深圳市福田区", "440304"), ("深圳市宝安区", "440306"), ("杭州市西湖区", "330106"),
    ("杭州市滨江区", "330108"), ("苏州市工业园区", "320571"), ("南京市鼓楼区", "320106"), ("成都市武侯区", "510107"),
    ("成都市高新区", "510109"), ("武汉市洪山区", "420111"), ("天津市滨海新区", "120116"), ("青岛市崂山区", "370212"),
    ("厦门市思明区", "350203"), ("西安市雁塔区", "610113"), ("重庆市渝北区", "500112"), ("长沙市岳麓区", "430104"),
    ("郑州市金水区", "410105"), ("合肥市蜀山区", "340104"), ("宁波市鄞州区", "330212"), ("东莞市", "441900"),
    ("佛山市顺德区", "440606"), ("济南市历下区", "370102"),
)
US_AREA_CODES = ("212", "646", "415", "650", "408", "312", "617", "206", "213", "310", "305", "512", "303", "404",
                 "469", "702", "617", "919", "503", "615")
CN_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                      "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183",
                      "185", "186", "187", "188", "189", "199")
INDUSTRIES_ZH = ("制造业", "信息技术", "金融服务", "教育培训", "医疗健康", "零售快消", "物流运输", "房地产", "建筑工程",
                 "能源化工", "汽车及零部件", "餐饮酒店", "文化传媒", "农业", "电子商务", "专业服务", "政府及公共事业")
INDUSTRIES_EN = ("Software", "Manufacturing", "Financial Services", "Healthcare", "Retail", "Logistics",
                 "Education", "Real Estate", "Media", "Energy", "Professional Services")
# Characters of Chinese trade names (字号): most companies' names are their own; Faker's few
# dozen company prefixes alone would give a million customers a thousand name cores.
BRAND_CHARS = ("鑫源达泰华盛恒昌隆兴宏瑞祥福德嘉信诚安康和顺金银天海新晨光明远博创智联通汇丰荣佳美正中东宇鼎峰龙鹏腾飞"
               "星云雅润泽立万众合力永久丽帝豪凯旭辉耀锦绣益诺维科捷迅优品尚卓越康宁春秋文浩君睿思齐")
EN_GROUPS = ("Group", "Holdings", "Industries", "Partners", "Labs", "Systems", "Trading", "Logistics", "Foods",
             "Components", "Analytics", "Capital", "Robotics", "Materials", "Devices")
EN_FORMS = ("Inc.", "LLC", "Ltd.", "Co.", "Corp.", "")

SOURCES = ("官网咨询", "展会", "老客户转介绍", "电话营销", "百度推广", "微信公众号", "渠道合作伙伴", "website",
           "referral", "trade show", "cold call", "LinkedIn", "partner")
STAGES = ("lead", "prospect", "customer", "loyal", "churned")
STAGE_WEIGHTS = (35, 25, 25, 8, 7)
TIERS = ("A", "B", "C", None)
TIER_WEIGHTS = (10, 30, 40, 20)
# A few common tags and a long tail, as real workspaces have.
TAGS = ("重点客户", "VIP", "华东", "华南", "华北", "西南", "展会线索", "老客户转介绍", "政府项目", "高校", "上市公司",
        "价格敏感", "需要演示", "已报价", "竞品在用", "续约", "渠道", "KA", "SMB", "enterprise", "trial",
        "Q3-campaign", "webinar", "partner-lead", "upsell", "at-risk", "decision-pending", "海外", "外资企业",
        "国企", "民营", "初创")
TAG_WEIGHTS = tuple(max(1, 60 // (rank + 1)) for rank in range(len(TAGS)))
CHANNELS = ("phone", "wechat", "email", "visit", "meeting", "form", "other")
CHANNEL_WEIGHTS = (35, 30, 15, 8, 8, 2, 2)
SENTIMENTS = ("positive", "neutral", "negative", None)
SENTIMENT_WEIGHTS = (30, 45, 10, 15)

# Interaction text: an opening by channel, a topic and an outcome, in the tenant's two languages.
ZH_OPENINGS = {
    "phone": ("电话沟通", "电话回访", "来电咨询", "致电客户"), "wechat": ("微信沟通", "微信群内讨论", "微信语音"),
    "email": ("邮件往来", "发送邮件", "收到客户邮件"), "visit": ("上门拜访", "实地考察客户工厂", "拜访客户总部"),
    "meeting": ("线上会议", "视频会议", "双方高层会谈"), "form": ("官网表单提交",), "other": ("展会现场交流", "行业沙龙交流"),
}
ZH_TOPICS = ("了解客户对最新报价的反馈", "确认年度采购计划", "介绍新版产品功能", "讨论合同付款条款", "跟进试用情况",
             "沟通交付时间安排", "处理售后服务问题", "确认技术对接方案", "讨论续约及增购", "了解竞品使用情况",
             "安排产品演示", "确认发票及开票信息", "讨论定制化需求", "了解预算审批进度", "回访培训效果")
ZH_OUTCOMES = ("，客户表示需要内部讨论后答复", "，客户比较满意，约定下周再联系", "，对方负责人出差，改期沟通",
               "，客户希望价格再优惠5%", "，已发送报价单和方案", "，客户确认进入采购流程", "，需要技术同事支持",
               "，客户提出交付周期偏长", "，约定月底前签合同", "，客户暂无采购计划", "")
EN_OPENINGS = {
    "phone": ("Call with", "Follow-up call with", "Inbound call from"), "wechat": ("WeChat chat with",),
    "email": ("Email thread with", "Sent proposal by email to"), "visit": ("On-site visit to",),
    "meeting": ("Video meeting with", "Quarterly business review with"), "form": ("Web form from",),
    "other": ("Met at trade show:",),
}
EN_TOPICS = ("the procurement team about renewal pricing", "IT about the integration plan", "the CFO about payment terms",
             "the champion about the pilot results", "operations about delivery dates", "legal about the contract redlines",
             "the buyer about a volume discount", "support about an open ticket", "the VP Sales about an upsell")
EN_OUTCOMES = ("; they will get back after the budget review.", "; next step is a demo for the wider team.",
               "; sent the revised quote.", "; they asked for references.", "; verbal yes, paperwork next week.",
               "; no budget this quarter.", ".")
ZH_NEXT_STEPS = ("发送修改后的报价", "安排产品演示", "准备合同草稿", "邀请技术团队参加会议", "寄送样品", "确认付款计划")
EN_NEXT_STEPS = ("Send revised quote", "Schedule demo", "Draft contract", "Loop in solutions engineer", "Share case study")
ZH_DETAILS = ("客户目前使用Excel管理客户信息，希望统一到系统中。", "对方采购流程需要三家比价。", "决策人为分管副总，预计下月拍板。",
              "客户关注数据安全及私有化部署。", "去年合作顺利，今年预算有所增加。", "客户对售后响应速度有意见，需要重点关注。")
EN_DETAILS = ("They currently track accounts in spreadsheets.", "Procurement needs three competing bids.",
              "Decision maker is the VP Operations; decision expected next month.", "Security review required.",
              "Budget increased compared with last year.")


@dataclass(frozen=True)
class Owner:
    id: uuid.UUID
    department_id: uuid.UUID | None


def _org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code: 8 digits and their check character."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    rest = 11 - sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(rest, str(rest))


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(rng: random.Random, region_code: str) -> str:
    """A unified social credit code (GB 32100-2015): 9 = registered by the market regulator,
    1 = enterprise, the region, the organisation code, the check character."""
    first17 = "91" + region_code + _org_code(rng)
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


class RecordsData:
    """Pools made once with Faker, rows combined from them with a seeded generator."""

    def __init__(self, seed: int = 7, pool: int = 4000) -> None:
        self.rng = random.Random(seed)
        zh, en = Faker("zh_CN"), Faker("en_US")
        zh.seed_instance(seed)
        en.seed_instance(seed)
        self.zh_prefixes = sorted({zh.company_prefix() for _ in range(pool)})
        self.zh_suffixes = ("科技有限公司", "信息技术有限公司", "贸易有限公司", "实业有限公司", "电子有限公司",
                            "智能装备有限公司", "医疗器械有限公司", "网络科技有限公司", "物流有限公司", "食品有限公司",
                            "咨询有限公司", "新材料股份有限公司", "建设工程有限公司", "传媒有限公司")
        self.zh_people = [zh.name() for _ in range(pool)]
        self.zh_romanized = [zh.romanized_name().lower().replace(" ", ".") for _ in range(pool)]
        self.zh_domains = [zh.domain_name() for _ in range(pool)]
        self.zh_streets = [zh.street_name() for _ in range(pool)]
        self.en_companies = [en.company() for _ in range(pool)]
        self.en_first_names = [en.first_name() for _ in range(pool)]
        self.en_last_names = [en.last_name() for _ in range(pool)]
        self.en_domains = [en.domain_name() for _ in range(pool)]
        self.en_addresses = [en.address().replace("\n", ", ") for _ in range(pool)]

    # --- values ------------------------------------------------------------------------------------

    def cn_mobile(self) -> str:
        return f"+86{self.rng.choice(CN_MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"

    def us_phone(self) -> str:
        return f"+1{self.rng.choice(US_AREA_CODES)}{self.rng.randrange(200, 1000)}{self.rng.randrange(10**4):04d}"

    def _company_zh(self) -> tuple[str, list[str], str, str]:
        """(name, aliases, address, uscc) of a Chinese company."""
        rng = self.rng
        district, code = rng.choice(DISTRICTS)
        suffix = rng.choice(self.zh_suffixes)
        if rng.random() < 0.1:
            prefix = rng.choice(self.zh_prefixes)
        else:
            prefix = "".join(rng.choices(BRAND_CHARS, k=rng.choice((2, 2, 3))))
        city = district[: district.index("市") + 1]
        name = f"{city[:-1]}{prefix}{suffix}"
        aliases = [prefix + suffix[:2]] if rng.random() < 0.6 else []
        address = f"{district}{rng.choice(self.zh_streets)}{rng.randrange(1, 999)}号"
        if rng.random() < 0.4:
            address += f"{rng.randrange(1, 30)}层"
        return name, aliases, address, uscc(rng, code)

    # --- customers ---------------------------------------------------------------------------------

    def customer_fields(self) -> dict[str, Any]:
        """One customer's fields, 70 % Chinese, 30 % English; companies and some persons."""
        rng = self.rng
        chinese = rng.random() < 0.7
        person = rng.random() < 0.15
        fields: dict[str, Any] = {"kind": "person" if person else "company", "aliases": [], "uscc": None,
                                  "website": None}
        if chinese:
            if person:
                fields["name"] = rng.choice(self.zh_people)
                fields["address"] = f"{rng.choice(DISTRICTS)[0]}{rng.choice(self.zh_streets)}{rng.randrange(1, 999)}号"
                local, domain = rng.choice(self.zh_romanized), rng.choice(("qq.com", "163.com", "126.com", "sina.com"))
            else:
                fields["name"], fields["aliases"], fields["address"], uscc_code = self._company_zh()
                fields["uscc"] = uscc_code if rng.random() < 0.8 else None
                domain = rng.choice(self.zh_domains)
                local = rng.choice(("sales", "info", "contact", "purchase", rng.choice(self.zh_romanized)))
                fields["website"] = f"https://www.{domain}" if rng.random() < 0.5 else None
            fields["phone"] = self.cn_mobile()
            fields["industry"] = rng.choice(INDUSTRIES_ZH)
        else:
            if person:
                first, last = rng.choice(self.en_first_names), rng.choice(self.en_last_names)
                fields["name"] = f"{first} {last}"
                local, domain = f"{first}.{last}".lower().replace("'", ""), "gmail.com"
            else:
                if rng.random() < 0.2:
                    fields["name"] = rng.choice(self.en_companies)
                else:
                    first, second = rng.choice(self.en_last_names), rng.choice(self.en_last_names)
                    fields["name"] = f"{first} {second} {rng.choice(EN_GROUPS)} {rng.choice(EN_FORMS)}".strip()
                words = fields["name"].replace(",", "").split()
                if len(words) > 2:
                    fields["aliases"] = ["".join(w[0] for w in words if w[0].isupper())]
                domain = rng.choice(self.en_domains)
                local = rng.choice(("sales", "info", "hello", "procurement"))
                fields["website"] = f"https://{domain}" if rng.random() < 0.7 else None
            fields["address"] = rng.choice(self.en_addresses)
            fields["phone"] = self.us_phone() if rng.random() < 0.8 else self.cn_mobile()
            fields["industry"] = rng.choice(INDUSTRIES_EN)
        fields["email"] = f"{local}{rng.randrange(1, 9999) if rng.random() < 0.5 else ''}@{domain}".lower()
        fields["source"] = rng.choice(SOURCES)
        fields["lifecycle_stage"] = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        fields["tier"] = rng.choices(TIERS, TIER_WEIGHTS)[0]
        count = rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]
        fields["tags"] = list(dict.fromkeys(rng.choices(TAGS, TAG_WEIGHTS, k=count)))
        return fields

    def customer_body(self) -> dict[str, Any]:
        """A POST /api/v1/customers body (null fields left out)."""
        return {k: v for k, v in self.customer_fields().items() if v not in (None, [])}

    def customer_row(self, tenant_id: uuid.UUID, owner: Owner, created_at: datetime) -> tuple[Any, ...]:
        """A row in CUSTOMER_COLUMNS order (jsonb as JSON text)."""
        f = self.customer_fields()
        customer_id = uuid.uuid4()
        label = "mobile" if f["phone"].startswith("+86") else "work"
        phones = json.dumps([{"value": f["phone"], "label": label, "primary": True}])
        emails = json.dumps([{"value": f["email"], "label": "work", "primary": True}])
        updated_at = created_at + timedelta(seconds=self.rng.randrange(0, 90 * 86400))
        return (
            tenant_id, customer_id, 1 + self.rng.randrange(4), created_at, updated_at, owner.id, owner.id, owner.id,
            owner.department_id, f["name"], f["aliases"], f["kind"], f["uscc"], phones, emails, f["phone"],
            f["email"], f["website"], f["industry"], f["address"], f["source"], f["lifecycle_stage"], f["tier"],
            f["tags"],
        )

    # --- interactions ------------------------------------------------------------------------------

    def interaction_row(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, owner: Owner, occurred_at: datetime,
                        chinese: bool) -> tuple[Any, ...]:
        """A row in INTERACTION_COLUMNS order."""
        rng = self.rng
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        if chinese:
            summary = rng.choice(ZH_OPENINGS[channel]) + "：" + rng.choice(ZH_TOPICS) + rng.choice(ZH_OUTCOMES)
            details = "".join(rng.sample(ZH_DETAILS, 2)) if rng.random() < 0.3 else None
            next_step = rng.choice(ZH_NEXT_STEPS) if rng.random() < 0.4 else None
        else:
            summary = f"{rng.choice(EN_OPENINGS[channel])} {rng.choice(EN_TOPICS)}{rng.choice(EN_OUTCOMES)}"
            details = " ".join(rng.sample(EN_DETAILS, 2)) if rng.random() < 0.3 else None
            next_step = rng.choice(EN_NEXT_STEPS) if rng.random() < 0.4 else None
        follow_up = occurred_at + timedelta(days=rng.randrange(1, 15)) if rng.random() < 0.3 else None
        direction = None if channel in ("visit", "meeting") else rng.choice(("inbound", "outbound", "outbound"))
        created_at = occurred_at + timedelta(seconds=rng.randrange(60, 7200))
        return (
            tenant_id, uuid.uuid4(), customer_id, [owner.id], channel, direction, occurred_at, summary, details,
            rng.choices(SENTIMENTS, SENTIMENT_WEIGHTS)[0], next_step, follow_up, owner.id, owner.department_id, 1,
            created_at, created_at, owner.id, owner.id,
        )
