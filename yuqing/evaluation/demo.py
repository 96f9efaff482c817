"""Built-in generator of realistic Chinese mentions with labelled crises.

Background traffic follows a daily rhythm (quiet at night, peaks at lunch and
evening), mixes platforms, authors with long-tailed follower counts, reposts
that copy text, and ordinary praise, questions and grumbles. Crises from the
brief are injected at known onsets, so detectors can be scored against them.
Everything is drawn from one seeded `random.Random`, so the same config yields
the same bytes, which makes the demo replayable under Bytewax recovery.

For evaluation (`yuqing warn eval`), `scenario(days)` builds a multi-day
config: a weekly rhythm on top of the daily one, labelled crises of every
kind, organic noise that must not raise 二级 (a harmless viral positive burst,
a copy-paste campaign by a few accounts, a small grumble) and collector
outages (a source, or a whole brand, going silent) for the pipeline-health
alerts. All of these are opt-in: `DemoConfig()` yields what it always did.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))

BRANDS: dict[str, dict[str, list[str]]] = {
    "星汇支付": {
        "products": ["星汇钱包", "零钱理财", "扫码支付", "信用付"],
        "aliases": ["星汇支付", "星汇钱包", "星汇"],
    },
    "安达消费金融": {
        "products": ["安达分期", "安达借呗", "信用贷", "消费分期"],
        "aliases": ["安达消费金融", "安达消金", "安达分期"],
    },
    "云栈科技": {
        "products": ["云服务器", "对象存储", "云数据库", "CDN"],
        "aliases": ["云栈科技", "云栈云", "云栈"],
    },
    "锐芯电子": {
        "products": ["锐芯X30手机", "锐芯平板", "快充充电器", "智能手表"],
        "aliases": ["锐芯电子", "锐芯手机", "锐芯"],
    },
}

SOURCES = [("weibo", 0.45), ("wechat", 0.15), ("douyin", 0.15), ("news", 0.08), ("forum", 0.1),
           ("app_review", 0.05), ("x", 0.02)]

BACKGROUND = {
    "positive": [
        "{alias}的{product}用起来挺顺手的，界面简洁，推荐一下",
        "今天用{alias}{product}办完了事，速度很快，点赞👍",
        "{alias}客服态度真好，问题十分钟就解决了[赞]",
        "换了{alias}的{product}之后省心多了，体验不错",
        "{alias}这次活动力度可以，{product}优惠很实在[哈哈]",
    ],
    "neutral": [
        "有人知道{alias}{product}怎么开通吗？求教程",
        "{alias}发布了新版{product}，大家觉得怎么样",
        "转发一下{alias}的公告：{product}将于本周末例行升级",
        "{alias}{product}和别家比，费率差多少？",
        "刚看到{alias}在招聘，{product}团队在扩张",
    ],
    "negative": [
        "{alias}的{product}今天有点卡，等了好久才打开",
        "{alias}客服电话一直占线，有点无语",
        "感觉{alias}{product}最近广告越来越多了，烦",
        "{alias}这个{product}更新后反而不好用了[怒]",
    ],
}


@dataclass(frozen=True)
class Crisis:
    """A labelled crisis: what, whom, from when, how strong."""

    brand: str
    category: str
    onset: datetime
    duration: timedelta
    peak_per_minute: float
    templates: tuple[str, ...]
    origin: str = "weibo"
    tier_expected: int = 3


CRISIS_TEXTS: dict[str, tuple[str, ...]] = {
    "outage": (
        "{alias}又宕机了？？无法提现，交易失败，钱卡在里面出不来！",
        "急！{alias}{product}转账一直显示交易失败，客服电话打不通",
        "{alias}是不是崩了，提现提示系统繁忙，已经两个小时了[怒][怒]",
        "@{alias} 请给个说法，无法提现，工资卡在{product}里，房租怎么办",
        "{alias}大面积故障，支付失败，商户收不了款，损失谁来赔",
        "听说{alias}系统瘫痪了，大家的钱还安全吗？先别充值了",
    ),
    "data_breach": (
        "{alias}数据泄露？我的手机号和身份证号被卖了，天天接到诈骗电话",
        "曝光：{alias}用户信息遭泄露，暗网有人在卖数据包",
        "{alias}必须解释清楚，个人信息泄露到底多少人受影响",
        "刚收到诈骗短信，能说出我在{alias}的订单，信息肯定泄露了[怒]",
    ),
    "complaint_collection": (
        "{alias}暴力催收！打电话骚扰我的家人和同事，太过分了",
        "被{alias}的催收爆通讯录了，还P图威胁，这是违法的吧",
        "{alias}{product}逾期一天就轮番轰炸，暴力催收谁来管",
    ),
    "rumor_solvency": (
        "听说{alias}资金链断裂要跑路了，赶紧把钱取出来！",
        "{alias}要爆雷了？朋友圈都在传，里面的钱还能拿回来吗",
        "内部消息：{alias}老板跑路，大家快提现",
    ),
    "product_defect": (
        "{alias}{product}电池鼓包了，充电时还发烫，吓死我了",
        "我的{product}充着电突然冒烟，{alias}这质量问题太严重",
        "{alias}电池自燃，已经第三起了，还不召回？",
    ),
    "complaint_fees": (
        "{alias}{product}有隐形收费！合同里根本没写服务费",
        "借了一万，{alias}砍头息加各种费用，年化超过36%了吧",
    ),
    "regulatory": (
        "{alias}被央行罚款了，违规处罚通报刚出来",
        "监管通报：{alias}因违反反洗钱规定被处罚，{product}暂停新增",
        "{alias}收到监管罚单，金额不小，{product}还能用吗",
    ),
    "media_exposure": (
        "央视曝光{alias}{product}，记者暗访内容太震惊了",
        "财经媒体调查报道：{alias}{product}存在严重问题",
        "{alias}被3·15点名了，{product}的问题终于被曝光",
    ),
}

NOISE_TEXTS: dict[str, tuple[str, ...]] = {
    "viral_positive": (
        "{alias}{product}这次的活动太给力了，已经推荐给全家[赞][赞]",
        "为{alias}点赞！{product}新功能好用到哭，界面也好看",
        "{alias}的广告拍得太好了，{product}圈粉无数[哈哈]",
        "刚抢到{alias}{product}的福利，手慢无，冲冲冲",
    ),
    "copy_campaign": ("{alias}就是垃圾，{product}体验极差，大家千万别用！！",),
    "grumble": BACKGROUND["negative"],
}


@dataclass(frozen=True)
class Noise:
    """Organic traffic that is not a crisis: kind is a key of NOISE_TEXTS."""

    brand: str
    kind: str
    onset: datetime
    duration: timedelta
    peak_per_minute: float
    accounts: int = 0  # copy_campaign: how many accounts post the copies


@dataclass(frozen=True)
class CollectorOutage:
    """A collector that stops: `source` of `brand` ("*" for every brand or every source)."""

    start: datetime
    duration: timedelta
    brand: str = "*"
    source: str = "*"

    def drops(self, brand: str, source: str, at: datetime) -> bool:
        return (self.brand in ("*", brand) and self.source in ("*", source)
                and self.start <= at < self.start + self.duration)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo generates: span, rate, crises, and the malformed share."""

    start: datetime = datetime(2026, 11, 20, 8, 0, tzinfo=CST)
    hours: float = 6.0
    base_per_minute: float = 2.0  # per brand at the daily average
    seed: int = 7
    malformed_share: float = 0.002
    duplicate_share: float = 0.003  # collectors re-send: the same id again
    crises: tuple[Crisis, ...] = field(default_factory=lambda: default_crises())
    weekly: bool = False  # weekends quieter (see weekly_rhythm)
    noise: tuple[Noise, ...] = ()
    outages: tuple[CollectorOutage, ...] = ()


def default_crises(start: datetime = datetime(2026, 11, 20, 8, 0, tzinfo=CST)) -> tuple[Crisis, ...]:
    """The demo's scenarios: a payment outage, a battery-defect story, then debt-collection complaints."""
    return (
        Crisis("星汇支付", "outage", start + timedelta(hours=2, minutes=30), timedelta(minutes=50),
               peak_per_minute=60.0, templates=CRISIS_TEXTS["outage"]),
        Crisis("锐芯电子", "product_defect", start + timedelta(hours=4, minutes=10),
               timedelta(minutes=40), peak_per_minute=25.0, templates=CRISIS_TEXTS["product_defect"],
               origin="douyin", tier_expected=2),
        Crisis("安达消费金融", "complaint_collection", start + timedelta(hours=5, minutes=15),
               timedelta(minutes=30), peak_per_minute=6.0,
               templates=CRISIS_TEXTS["complaint_collection"], tier_expected=2),
    )


def daily_rhythm(at: datetime) -> float:
    """Relative activity by local hour: ~0.2 at 4 am, ~1.5 at lunch and 9 pm."""
    hour = at.astimezone(CST).hour + at.astimezone(CST).minute / 60
    night = 0.2 + 0.8 * (1 - math.cos((hour - 4) / 24 * 2 * math.pi)) / 2
    lunch = 0.4 * math.exp(-((hour - 12.5) ** 2) / 2)
    evening = 0.5 * math.exp(-((hour - 21) ** 2) / 3)
    return night + lunch + evening


def weekly_rhythm(at: datetime) -> float:
    """Relative activity by local weekday: Saturday and Sunday at 0.75 of a weekday."""
    return 0.75 if at.astimezone(CST).weekday() >= 5 else 1.0


def crisis_intensity(crisis: Crisis | Noise, at: datetime) -> float:
    """Mentions per minute of a crisis: fast rise over 10 min, slow decay."""
    age = (at - crisis.onset).total_seconds() / 60
    total = crisis.duration.total_seconds() / 60
    if age < 0 or age > total:
        return 0.0
    rise = min(1.0, (age + 1) / 10)
    decay = math.exp(-max(0.0, age - 15) / (total / 3))
    return crisis.peak_per_minute * rise * decay


class DemoGenerator:
    """Yields JSON lines (bytes) minute by minute in event-time order."""

    def __init__(self, config: DemoConfig | None = None) -> None:
        self.config = config or DemoConfig()
        self.minutes_done = 0

    def __iter__(self) -> Iterator[bytes]:
        cfg = self.config
        rng = random.Random(cfg.seed)
        authors = _author_pool(rng, 4000)
        recent: list[tuple[str, dict]] = []  # (brand, original post) that reposts copy
        serial = 0
        for minute in range(int(cfg.hours * 60)):
            self.minutes_done = minute  # how far a reader got, for a progress line
            t0 = cfg.start + timedelta(minutes=minute)
            batch: list[dict] = []
            rhythm = daily_rhythm(t0) * (weekly_rhythm(t0) if cfg.weekly else 1.0)
            for brand, info in BRANDS.items():
                for _ in range(_poisson(rng, cfg.base_per_minute * rhythm)):
                    batch.append(self._background(rng, brand, info, authors, t0))
            for crisis in cfg.crises:
                rate = crisis_intensity(crisis, t0)
                for _ in range(_poisson(rng, rate)):
                    batch.append(self._crisis_post(rng, crisis, authors, t0, recent))
            for noise in cfg.noise:
                for _ in range(_poisson(rng, crisis_intensity(noise, t0))):
                    batch.append(self._noise_post(rng, noise, authors, t0))
            batch.sort(key=lambda m: m["published_at"])
            for obj in batch:
                serial += 1
                obj["id"] = f"{obj['source']}:{900000000 + serial}"
                brand = obj.pop("_original_of", None)
                if brand:
                    recent.append((brand, obj))
                    del recent[:-50]
                line = self._encode(rng, obj)
                if cfg.outages and self._dropped(obj):
                    continue  # drawn as usual, then lost by the broken collector
                yield line
                if rng.random() < cfg.duplicate_share:
                    yield line

    def _dropped(self, obj: dict) -> bool:
        brand = obj.get("brand") or _brand_of(obj["text"])
        at = datetime.fromisoformat(obj["published_at"])
        return any(o.drops(brand, obj["source"], at) for o in self.config.outages)

    def _noise_post(self, rng, noise: Noise, authors: list[dict], t0: datetime) -> dict:
        info = BRANDS[noise.brand]
        text = rng.choice(NOISE_TEXTS[noise.kind]).format(
            alias=rng.choice(info["aliases"]), product=rng.choice(info["products"]))
        if noise.kind == "copy_campaign":  # the same few accounts, low reach, one text
            author = authors[-1 - rng.randrange(max(noise.accounts, 1))]
        else:
            author = rng.choice(authors)
        return _mention(rng, text, author, t0, _source(rng))

    def _encode(self, rng: random.Random, obj: dict) -> bytes:
        if rng.random() < self.config.malformed_share:
            return _malformed(rng, obj)
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")

    def _background(self, rng, brand: str, info: dict, authors: list[dict], t0: datetime) -> dict:
        mood = rng.choices(["positive", "neutral", "negative"], [0.45, 0.35, 0.2])[0]
        text = rng.choice(BACKGROUND[mood]).format(
            alias=rng.choice(info["aliases"]), product=rng.choice(info["products"]))
        return _mention(rng, text, rng.choice(authors), t0, _source(rng))

    def _crisis_post(self, rng, crisis: Crisis, authors, t0, recent: list[tuple[str, dict]]) -> dict:
        info = BRANDS[crisis.brand]
        copies = [post for brand, post in recent if brand == crisis.brand]
        if copies and rng.random() < 0.3:  # a repost copies an earlier post's text
            parent = rng.choice(copies)
            obj = _mention(rng, "转发微博 //" + parent["text"], rng.choice(authors), t0, parent["source"])
            obj["parent_id"] = parent["id"]
        else:
            text = rng.choice(crisis.templates).format(
                alias=rng.choice(info["aliases"]), product=rng.choice(info["products"]))
            early = (t0 - crisis.onset) < timedelta(minutes=3)
            source = crisis.origin if early else _source(rng)
            author = rng.choice(authors[:200]) if rng.random() < 0.15 else rng.choice(authors)
            obj = _mention(rng, text, author, t0, source)
            obj["_original_of"] = crisis.brand
        return obj


def _mention(rng: random.Random, text: str, author: dict, t0: datetime, source: str) -> dict:
    at = t0 + timedelta(seconds=rng.uniform(0, 59.999))
    return {
        "source": source,
        "published_at": at.astimezone(CST).isoformat(timespec="milliseconds"),
        "text": text,
        "url": f"https://{source}.example/p/{rng.getrandbits(40):x}",
        "lang": "zh",
        "author": author,
        "engagement": {
            "reposts": int(rng.paretovariate(1.5)) - 1,
            "comments": int(rng.paretovariate(1.5)) - 1,
            "likes": int(rng.paretovariate(1.2)) - 1,
        },
    }


def _brand_of(text: str) -> str:
    for brand, info in BRANDS.items():
        if any(alias in text for alias in info["aliases"]):
            return brand
    return ""


def scenario(days: float = 2.0, start: datetime = datetime(2026, 11, 20, 0, 0, tzinfo=CST),
             seed: int = 7, base_per_minute: float = 2.0) -> DemoConfig:
    """A multi-day evaluation run: each day its crises, noise and one collector outage.

    The day plans rotate the brands, so every brand meets several kinds of
    crisis, noise and outage over a few days. The first six hours are left
    quiet so that the detectors learn each brand's normal first.
    """
    brands = list(BRANDS)
    crises: list[Crisis] = []
    noise: list[Noise] = []
    outages: list[CollectorOutage] = []
    plans = [  # (hour, brand index, category, peak per minute, minutes, origin, expected tier)
        (10.5, 0, "outage", 60.0, 50, "weibo", 3),
        (14.2, 3, "product_defect", 25.0, 40, "douyin", 2),
        (20.0, 1, "complaint_collection", 10.0, 40, "weibo", 2),
        (9.3, 1, "rumor_solvency", 40.0, 60, "wechat", 3),
        (11.0, 2, "outage", 15.0, 40, "weibo", 2),
        (19.5, 3, "media_exposure", 12.0, 40, "news", 2),
        (15.5, 2, "data_breach", 30.0, 50, "forum", 3),
        (8.7, 0, "regulatory", 20.0, 40, "news", 2),
        (21.0, 1, "complaint_fees", 8.0, 40, "weibo", 2),
    ]
    per_day = 3
    for day in range(math.ceil(days)):
        base = start + timedelta(days=day)
        rot = day // 3  # after the nine plans, the brands shift by one
        for hour, b, category, peak, minutes, origin, tier in plans[
                (day % 3) * per_day:(day % 3 + 1) * per_day]:
            onset = base + timedelta(hours=hour)
            if (day == 0 and hour < 6) or onset >= start + timedelta(days=days):
                continue
            crises.append(Crisis(brands[(b + rot) % 4], category, onset, timedelta(minutes=minutes),
                                 peak_per_minute=peak, templates=CRISIS_TEXTS[category],
                                 origin=origin, tier_expected=tier))
        nb = (day + rot) % 4
        noise += [
            Noise(brands[nb], "viral_positive", base + timedelta(hours=12, minutes=5),
                  timedelta(minutes=45), 40.0),
            Noise(brands[(nb + 1) % 4], "copy_campaign", base + timedelta(hours=16, minutes=40),
                  timedelta(minutes=30), 6.0, accounts=4),
            Noise(brands[(nb + 2) % 4], "grumble", base + timedelta(hours=17, minutes=30),
                  timedelta(minutes=40), 1.5),
        ]
        outages.append(CollectorOutage(base + timedelta(hours=18), timedelta(minutes=40),
                                       brand=brands[(nb + 3) % 4], source="weibo"))
        if day % 2 == 1:
            outages.append(CollectorOutage(base + timedelta(hours=15), timedelta(minutes=30),
                                           brand=brands[nb], source="*"))
    return DemoConfig(start=start, hours=24 * days, base_per_minute=base_per_minute, seed=seed,
                      crises=tuple(crises), weekly=True, noise=tuple(noise),
                      outages=tuple(outages))


def _author_pool(rng: random.Random, size: int) -> list[dict]:
    """Authors sorted by influence: the first ones are KOLs with verified accounts."""
    pool = []
    for i in range(size):
        followers = int(50 * rng.paretovariate(0.8))
        pool.append({"id": f"u{100000 + i}", "name": f"用户{100000 + i}",
                     "followers": min(followers, 30_000_000), "verified": followers > 200_000})
    pool.sort(key=lambda a: -a["followers"])
    return pool


def _source(rng: random.Random) -> str:
    return rng.choices([s for s, _ in SOURCES], [w for _, w in SOURCES])[0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    if lam > 30:  # normal approximation keeps big rates cheap
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _malformed(rng: random.Random, obj: dict) -> bytes:
    """A realistic broken record: truncated JSON, a missing field or a bad time."""
    kind = rng.randrange(3)
    if kind == 0:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")[:40]
    broken = dict(obj)
    if kind == 1:
        broken.pop("published_at")
    else:
        broken["published_at"] = "昨天下午"
    return json.dumps(broken, ensure_ascii=False).encode("utf-8")

