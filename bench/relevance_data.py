"""The relevance set of ``bench/search_relevance.py``: company and person records and the queries
Chinese and English salespeople type for them, each with the record it must find and its class.

Generated once with a fixed seed (``python -m bench.relevance_data`` rewrites
``bench/data/relevance.json``, the file the benchmark and reviewers read). The names are composed
from lists of realistic parts (regions, brand words, industries, legal forms, banks and groups,
people's names); the queries are what a user types for one record, by class:

* ``segment``: a natural word of the name that crosses the name's own segments (中国交通银行 →
  交通银行, 深圳市恒瑞电子科技有限公司 → 恒瑞电子科技, 瑞电子);
* ``homophone``: the same with one character replaced by another of the same tone-less pinyin;
* ``traditional``: simplified text for a record stored in traditional characters, and the reverse;
* ``phone_tail``: the last 4–8 digits of a stored number (尾号), or the whole national number;
* ``short``: a 简称 nobody entered as an alias (建行 for 中国建设银行, 上汽 for 上海汽车集团);
* controls: ``exact`` (the whole name), ``word`` (a word of it), ``pinyin``, ``initials``,
  ``typo`` (an English name with a transposed or missing letter).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import opencc
import phonenumbers
from pypinyin import lazy_pinyin

PATH = Path(__file__).parent / "data" / "relevance.json"
SEED = 1919

REGIONS = ["北京", "上海", "深圳市", "广州市", "杭州", "成都", "武汉市", "南京", "苏州", "天津", "重庆", "西安",
           "长沙市", "厦门", "青岛", "宁波市", "合肥", "郑州", "济南", "无锡", "东莞市", "佛山", "福州", "昆明"]
HK_TW = ["香港", "台北", "澳门", "台中", "高雄", "新竹"]
BRANDS = ["恒瑞", "华信", "金桥", "永兴", "鼎盛", "瑞丰", "天成", "博远", "宏达", "新维", "德润", "嘉禾", "锦程",
          "东方红", "百川", "盛世", "中联", "海纳", "星辰", "凯旋", "汇丰源", "同创", "启明", "远航", "万象",
          "云帆", "聚力", "和信", "晨光", "正泰", "长风", "青松", "安泰", "润泽", "蓝海", "明德", "信达", "天恒",
          "富源", "融通", "华韵", "众邦", "泰和", "卓越", "弘毅", "尚品", "兴业达", "腾飞", "精诚", "广联",
          "思源", "美林", "立信", "宝丰", "银河", "新锐", "冠群", "振华", "光大德", "九州通", "润华", "开元",
          "达通", "联创", "致远", "博瑞", "金鼎", "通宇", "恒昌", "华茂", "佳禾", "海川", "宇航", "鸿运"]
INDUSTRIES = ["电子科技", "信息技术", "贸易", "物流", "医药", "食品", "建筑工程", "环保科技", "新能源", "机械设备",
              "文化传媒", "生物科技", "网络科技", "实业", "投资管理", "服装", "家具", "化工", "汽车服务", "软件"]
SUFFIXES = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司", "科技有限公司"]
BANKS = [("中国建设银行股份有限公司", "建行"), ("中国工商银行", "工行"), ("中国农业银行股份有限公司", "农行"),
         ("招商银行股份有限公司", "招行"), ("交通银行", "交行"), ("中国民生银行", "民生银行"),
         ("上海浦东发展银行", "浦发银行"), ("中国光大银行", "光大银行"), ("华夏银行股份有限公司", "华夏银行")]
GROUPS = [("上海汽车集团股份有限公司", "上汽"), ("中国石油化工集团有限公司", "中石化"),
          ("中国远洋运输集团", "中远"), ("北京大学", "北大"), ("中国移动通信集团有限公司", "中国移动"),
          ("中国电信集团有限公司", "中国电信"), ("中国平安保险集团股份有限公司", "平安保险"),
          ("中国人民财产保险股份有限公司", "人保财险"), ("南方航空股份有限公司", "南航"),
          ("东风汽车集团有限公司", "东风汽车"), ("中国国际金融股份有限公司", "中金"),
          ("华润万家有限公司", "华润万家"), ("上海交通大学", "上海交大"), ("中国联合网络通信集团有限公司", "中国联通")]
EN_FIRST = ["Northwind", "Bluewater", "Silverline", "Greenfield", "Redwood", "Ironbridge", "Goldcrest", "Stonegate",
            "Brightpath", "Clearview", "Highland", "Oakridge", "Maplestone", "Crescent", "Summit", "Harbor",
            "Pinnacle", "Evergreen", "Lakeside", "Westbrook", "Falconer", "Sterling", "Meridian", "Riverton"]
EN_SECOND = ["Traders", "Logistics", "Solutions", "Holdings", "Systems", "Pharmaceuticals", "Industries",
             "Consulting", "Electronics", "Foods", "Partners", "Networks", "Analytics", "Manufacturing"]
EN_SUFFIX = ["Ltd", "Inc.", "Co., Ltd.", "GmbH", "LLC", "Pte. Ltd."]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀兰", "霞", "平", "刚", "桂英", "建华", "志强", "晓东", "海燕", "子涵", "雨萱", "浩然", "梓轩", "思远",
         "嘉怡", "俊杰", "欣怡", "文博", "宇航", "佳琪", "一鸣", "晨曦"]
EN_PEOPLE_FIRST = ["James", "Olivia", "Michael", "Sophia", "David", "Emma", "Daniel", "Charlotte", "Thomas",
                   "Amelia", "Richard", "Isabella", "William", "Grace", "Henry", "Chloe"]
EN_PEOPLE_LAST = ["Anderson", "Thompson", "Harrison", "Mitchell", "Robinson", "Whitaker", "Fletcher",
                  "Gallagher", "Holloway", "Pemberton", "Sinclair", "Montgomery"]
# Characters a homophone typo may come from (common ones, so the typo is one an input method offers).
COMMON = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
          "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把"
          "性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质"
          "气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活"
          "设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则"
          "任取据处府研商仪东车身医保险安按岸暗昂傲凹奥鸿红宏洪虹泓弘恒衡横亨瑞锐睿蕊信心新欣鑫馨芯辛华化花画话"
          "划滑桂贵柜跪鼎顶丁定订盛胜圣升声生泰太态汰钛达答搭打博波伯泊薄远源元原园圆援缘院愿丰风峰锋封蜂枫疯"
          "科颗棵壳技记计纪季既际济继寄交焦骄娇郊教较胶叫通同桐铜童统桶痛铭名明鸣茗命腾疼藤誉宇雨羽玉语予域浩豪"
          "号好昊皓嘉家佳加夹甲驾架价假")


def _pinyin(text: str) -> list[str]:
    return lazy_pinyin(text, errors="ignore")


def _homophone(word: str, rng: random.Random, by_sound: dict[str, list[str]]) -> str | None:
    """``word`` with one character replaced by another of the same tone-less pinyin."""
    positions = list(range(len(word)))
    rng.shuffle(positions)
    for i in positions:
        sound = _pinyin(word[i])
        if not sound:
            continue
        others = [c for c in by_sound.get(sound[0], []) if c != word[i]]
        if others:
            return word[:i] + rng.choice(others) + word[i + 1:]
    return None


def _valid(number: str) -> bool:
    """What the records API accepts (a valid number of the default region, CN)."""
    return phonenumbers.is_valid_number(phonenumbers.parse(number, "CN"))


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        number = rng.choice(["13", "15", "17", "18", "19"]) + str(rng.randint(0, 9)) + f"{rng.randint(0, 99999999):08d}"
        if number[-4:] not in used and _valid(number):
            used.add(number[-4:])
            return number


def _landline(rng: random.Random, used: set[str]) -> str:
    while True:
        area = rng.choice(["010", "021", "0755", "020", "0571", "028"])
        local = f"{rng.randint(2, 8)}{rng.randint(0, 9999999):07d}"
        if local[-4:] not in used and _valid(area + local):
            used.add(local[-4:])
            return f"{area}-{local}"


def _suffix(industry: str, rng: random.Random) -> str:
    return rng.choice([s for s in SUFFIXES if not (industry.endswith("科技") and s.startswith("科技"))])


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randint(1, len(word) - 3)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def generate() -> dict[str, Any]:
    rng = random.Random(SEED)
    s2t, t2s = opencc.OpenCC("s2t"), opencc.OpenCC("t2s")
    by_sound: dict[str, list[str]] = {}
    for char in dict.fromkeys(COMMON + "".join(BRANDS)):
        by_sound.setdefault(_pinyin(char)[0], []).append(char)
    used_tails: set[str] = set()
    records: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> dict[str, Any]:
        record = {"key": f"r{len(records)}", "kind": kind, **fields}
        records.append(record)
        return record

    def ask(q: str, record: dict[str, Any], cls: str) -> None:
        queries.append({"q": q, "expect": record["key"], "class": cls})

    # Chinese companies: region + brand + industry + legal form; a few in traditional characters.
    companies = []
    brands = BRANDS[:]
    rng.shuffle(brands)
    for i, brand in enumerate(brands):
        industry = INDUSTRIES[i % len(INDUSTRIES)]
        traditional = i % 6 == 5
        region = rng.choice(HK_TW if traditional else REGIONS)
        name = region + brand + industry + _suffix(industry, rng)
        stored = s2t.convert(name) if traditional else name
        record = add("company", name=stored, phones=[_landline(rng, used_tails)],
                     emails=[f"info@{''.join(_pinyin(brand))}.com.cn"])
        companies.append((record, region, brand, industry, traditional))
    for full, _short in BANKS + GROUPS:
        companies.append((add("company", name=full, phones=[_landline(rng, used_tails)]), "", full, "", False))
    # Filler companies (more of the same patterns, so a short query has competition).
    for _ in range(260):
        brand = rng.choice(BRANDS)
        industry = rng.choice(INDUSTRIES)
        name = rng.choice(REGIONS) + brand + industry + _suffix(industry, rng)
        add("company", name=name, phones=[_landline(rng, used_tails)])
    english = []
    for first in EN_FIRST:
        second = rng.choice(EN_SECOND)
        record = add("company", name=f"{first} {second} {rng.choice(EN_SUFFIX)}", phones=[_landline(rng, used_tails)],
                     emails=[f"sales@{first.lower()}.com"])
        english.append((record, first, second))
    # People: contacts of a company, Chinese and English names, mobiles and e-mails.
    people = []
    for i in range(150):
        company = rng.choice(companies)[0]
        if i % 5 == 4:
            name = f"{rng.choice(EN_PEOPLE_FIRST)} {rng.choice(EN_PEOPLE_LAST)}"
            email = name.lower().replace(" ", ".") + "@example.com"
        else:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            email = "".join(_pinyin(name)) + f"{i}@example.cn"
        people.append(add("person", name=name, company=company["key"], phones=[_mobile(rng, used_tails)],
                          emails=[email]))

    # --- queries -------------------------------------------------------------------------------
    zh = [c for c in companies if c[3]]
    for record, _region, brand, industry, _traditional in zh[:30]:
        # A word across the name's segments: the brand and the industry's first word, or the brand's
        # last character with the industry.
        ask((brand + industry[:2]) if len(brand) == 2 else (brand[1:] + industry), record, "segment")
    for full, _short in BANKS[:6]:
        record = next(c[0] for c in companies if c[0]["name"] == full)
        ask(full.replace("中国", "").replace("股份有限公司", ""), record, "segment")
    for record, _region, brand, industry, _traditional in zh[30:60]:
        word = _homophone(brand + industry[:2], rng, by_sound)
        if word:
            ask(word, record, "homophone")
    for full, _short in BANKS[:6] + GROUPS[:4]:
        record = next(c[0] for c in companies if c[0]["name"] == full)
        core = full.replace("中国", "").replace("股份有限公司", "").replace("集团", "").replace("有限公司", "")
        word = _homophone(core[:4], rng, by_sound)
        if word:
            ask(word, record, "homophone")
    trad = [c for c in companies if c[4]]
    for record, region, brand, industry, _ in trad:
        ask(t2s.convert(record["name"])[len(region):len(region) + len(brand) + len(industry)], record, "traditional")
    for record, _region, brand, industry, traditional in zh[:60]:
        if not traditional and len(queries) and sum(q["class"] == "traditional" for q in queries) < 30:
            ask(s2t.convert(brand + industry), record, "traditional")
    for full, _short in BANKS[:5]:
        record = next(c[0] for c in companies if c[0]["name"] == full)
        ask(s2t.convert(full.replace("股份有限公司", "")), record, "traditional")
    for person in people[:30]:
        digits = "".join(ch for ch in person["phones"][0] if ch.isdigit())
        ask(digits[-rng.choice([4, 4, 4, 5, 6, 8, 11]):], person, "phone_tail")
    for record, *_ in zh[60:70]:
        digits = "".join(ch for ch in record["phones"][0] if ch.isdigit())
        ask(digits[-4:], record, "phone_tail")
    for full, short in BANKS + GROUPS:
        record = next(c[0] for c in companies if c[0]["name"] == full)
        ask(short, record, "short")
    for record, _region, brand, industry, traditional in zh[:20]:
        if not traditional:
            ask(brand + industry, record, "short")  # the name without region and legal form
    # Controls.
    for record, _region, brand, industry, _traditional in zh[:15]:
        ask(record["name"], record, "exact")
        ask(brand, record, "word")
        ask("".join(_pinyin(t2s.convert(brand))), record, "pinyin")
        ask("".join(s[0] for s in _pinyin(t2s.convert(brand + industry))), record, "initials")
    for record, first, second in english[:15]:
        ask(f"{_typo(first.lower(), rng)} {second.lower()[:4]}", record, "typo")
    for person in people[:15]:
        ask(person["name"], person, "exact")
    return {"records": records, "queries": queries}


def main() -> None:
    data = generate()
    PATH.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for q in data["queries"]:
        counts[q["class"]] = counts.get(q["class"], 0) + 1
    print(f"{len(data['records'])} records, {len(data['queries'])} queries: {counts}")


if __name__ == "__main__":
    main()
