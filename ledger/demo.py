"""The demo county (DESIGN.md §10): a synthetic county shaped like Yutian, built through the same use
cases officers use, reproducible for a seed.

`--scale county` is the reference county: 15 townships (13 乡, 2 镇), 218 villages, 31,943 households and
123,717 people, five fund sources, a project for each of the ten subsidised industries plus the
public-welfare posts, 5,724 posts paid monthly, in-kind breeding stock delivered through an implementer,
and a few planted irregularities (payees on the death, public-employee and vehicle lists, officials
paying themselves) so that the inspectors' rules have something to find. `--scale town` (the default)
is about a twentieth of it and builds in seconds.

What happened before today is recorded as history (`--history`: the same checks and posting code, the
demo approver as checker); what an officer would do next is left waiting: a subsidy roll in draft, a
wage roll in its disclosure (公示) and ready for approval, a batch with two bank returns (退票), one of
them re-issued and awaiting approval, and an advance with undelivered stock.

The generator is pure (values in, rows out, `random.Random(seed)`); `build_demo` hands the rows to the
services. Building twice does nothing the second time: the county is recognised by its first township.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from ledger import payments, projects, registry, services, users
from ledger.db import read_only
from ledger.history import HistoryMark
from ledger.ids import id_check_char, luhn_ok
from ledger.journal import LedgerRefusal
from ledger.models import Township
from ledger.payments import BankReturnIn, PaymentIn
from ledger.permissions import SYSTEM, Actor
from ledger.projects import ProjectIn
from ledger.registry import HouseholdIn, OfficialIn, PersonIn, ReferenceIn, TownshipIn
from ledger.settings import get_settings

# One demo user per role. The passwords are public on purpose (they are printed); the demo
# refuses to run in production.
DEMO_USERS = (
    ("finance", "finance_officer", "财务 王芳"),
    ("approver", "approver", "审核 李明"),
    ("loans", "loan_officer", "信贷 阿依古丽"),
    ("inspector", "inspector", "纪检 张强"),
    ("admin", "admin", "管理员 赵磊"),
)

YEAR = 2026
COUNTY_REGION = "653226"  # 于田县's administrative division code: the first six digits of its IDs
# Yutian's 15 townships (seed: 13 乡 and 2 镇), 镇 first.
TOWNSHIPS = (
    ("MGL", "木尕拉镇"), ("XBBZ", "先拜巴扎镇"), ("AQ", "阿羌乡"), ("AYTGLK", "奥依托格拉克乡"), ("ARL", "阿热勒乡"),
    ("KKY", "科克亚乡"), ("JY", "加依乡"), ("TGRGZ", "托格日尕孜乡"), ("XWL", "希吾勒乡"), ("SYK", "斯也克乡"),
    ("DLYBY", "达里雅布依乡"), ("YBG", "英巴格乡"), ("KEK", "喀尔克乡"), ("LG", "兰干乡"), ("ARX", "阿日希乡"),
)
FUNDS = (  # code, name, kind, document number (指标文号); amounts follow from the programmes' needs
    ("CENTRAL", "中央财政衔接推进乡村振兴补助资金", "central", "新财农〔2026〕3号"),
    ("REGION", "自治区财政衔接资金", "region", "新财农〔2026〕11号"),
    ("PREFECTURE", "和田地区财政衔接资金", "prefecture", "和地财〔2026〕5号"),
    ("COUNTY", "于田县本级衔接资金", "county", "于财〔2026〕2号"),
    ("TJ-AID", "天津市东西部协作资金", "partner_aid", "津协〔2026〕8号"),
)


@dataclass(frozen=True, slots=True)
class Industry:
    key: str
    name: str
    households: int  # households the programme pays at county scale (seed)
    standard_yuan: int  # per household
    townships: tuple[str, ...]  # codes; () is county-wide
    funds: tuple[str, ...]  # allocated from, in this order (the payment split follows it)
    implementer: str | None = None
    in_kind: tuple[str, int, int] | None = None  # (item, quantity per household, unit price yuan)


INDUSTRIES = (
    Industry("rose", "玫瑰花种植", 3_454, 2_000, ("AYTGLK", "ARL"), ("CENTRAL", "TJ-AID"), "瑰觅生物科技股份有限公司"),
    Industry("grape", "葡萄提质增效", 2_000, 1_500, (), ("REGION",)),
    Industry("vegetable", "设施蔬菜大棚", 1_430, 5_000, ("KKY", "JY", "MGL", "ARL"), ("CENTRAL", "COUNTY")),
    Industry("marigold", "万寿菊订单种植", 3_000, 800, ("TGRGZ",), ("PREFECTURE",), "晨光生物科技集团"),
    Industry("fungus", "食用菌拱棚栽培", 2_500, 3_000, ("MGL",), ("CENTRAL",), "宜林养殖有限公司"),
    Industry("sheep", "多胎肉羊养殖", 4_000, 3_000, ("XWL",), ("TJ-AID", "CENTRAL"), "天津食品集团于田分公司",
             ("多胎肉羊生产母羊", 2, 1_500)),
    Industry("goose", "鹅产业", 1_500, 1_000, ("SYK", "ARL", "AYTGLK"), ("REGION",), "天山牧歌投资管理有限公司"),
    Industry("pigeon", "肉鸽养殖", 1_200, 1_200, ("JY", "XBBZ"), ("COUNTY",), "国合鸽业"),
    Industry("rabbit", "兔产业", 8_534, 1_500, ("AQ", "KEK", "LG", "ARX", "YBG"), ("CENTRAL", "REGION")),
    Industry("hotan_sheep", "和田羊养殖", 1_800, 3_000, ("AQ", "DLYBY"), ("REGION", "PREFECTURE")),
)
POSTS = (  # post type, number at county scale (seed), monthly wage yuan
    ("general", 2_360, 1_500), ("forest", 2_024, 1_000), ("grassland", 220, 1_000), ("road", 1_000, 1_000),
    ("pv", 120, 1_500),
)
WAGE_FUNDS = ("CENTRAL", "COUNTY")
HISTORY_WAGE_MONTHS = 10  # January to October are history; November's roll is in its 公示
GIVEN = ("买买提", "艾力", "吐尔逊", "热合曼", "阿不都", "麦麦提", "努尔", "阿曼", "萨迪克", "艾合买提", "阿卜杜拉",
         "玉苏普", "依明", "托合提", "肉孜", "阿依古丽", "古丽娜尔", "帕提古丽", "如仙古丽", "米热古丽", "祖丽胡玛尔",
         "布维", "玛依拉", "阿依努尔", "热比亚", "图尼萨", "海力且木", "茹克亚", "阿米娜", "再努尔")


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    townships: int
    villages: int
    households: int
    persons: int
    twentieths: int  # of the county's programmes (industries' households, posts), in 1/20 steps


SCALES = {
    "county": Scale("county", 15, 218, 31_943, 123_717, 20),
    "town": Scale("town", 2, 11, 1_600, 6_190, 1),
}


def demo_password(username: str) -> str:
    return f"demo-{username}-2026"


def ensure_demo_users(engine: Engine) -> list[tuple[str, str, str]]:
    """Create the demo users that are missing; returns (username, role, password) for all."""
    if get_settings().environment == "production":
        raise RuntimeError("the demo users are not created in production")
    with read_only(engine) as s:
        existing = set(s.execute(select(users.USER.c.username)).scalars())
    out = []
    for name, role, display in DEMO_USERS:
        if name not in existing:
            users.create_user(engine, SYSTEM, name, role, demo_password(name), display_name=display)
        out.append((name, role, demo_password(name)))
    return out


def demo_actors(engine: Engine) -> dict[str, Actor]:
    with read_only(engine) as s:
        rows = s.execute(select(users.USER).where(users.USER.c.username.in_([u[0] for u in DEMO_USERS]))).all()
    return {r.username: users.actor_of(r) for r in rows}


# ---------------------------------------------------------------------------------------------
# The generator (pure)


def card_number(n: int) -> str:
    """A 19-digit 一卡通 account number (农村信用社 BIN 622827) that passes Luhn."""
    body = f"622827{n:012d}"
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


@dataclass
class County:
    townships: list[TownshipIn] = field(default_factory=list)
    households: list[HouseholdIn] = field(default_factory=list)
    persons: list[PersonIn] = field(default_factory=list)
    heads: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # household -> (id, name, card)
    township_of: dict[str, str] = field(default_factory=dict)  # household -> township code
    by_township: dict[str, list[str]] = field(default_factory=dict)  # township code -> households
    members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # household -> (id, name), not head


def generate_county(scale: Scale, seed: int) -> County:
    rng = random.Random(seed)
    c = County()
    towns = TOWNSHIPS[:scale.townships]
    c.townships = [TownshipIn(code, name) for code, name in towns]
    # Villages spread over the townships, at least one each.
    per_town = [1] * len(towns)
    for _ in range(scale.villages - len(towns)):
        per_town[rng.randrange(len(towns))] += 1
    villages = [(code, name, f"{name[:-1]}{k + 1}村") for (code, name), n in zip(towns, per_town, strict=True)
                for k in range(n)]
    sizes = [1] * scale.households
    extra = scale.persons - scale.households
    assert extra >= 0
    while extra:
        i = rng.randrange(scale.households)
        if sizes[i] < 9:
            sizes[i] += 1
            extra -= 1
    used: set[str] = set()

    def resident_id(birth_year: int, female: bool) -> str:
        while True:
            born = dt.date(birth_year, 1, 1) + dt.timedelta(days=rng.randrange(365))
            seq = rng.randrange(500) * 2 + (0 if female else 1)
            first17 = f"{COUNTY_REGION}{born:%Y%m%d}{seq:03d}"
            number = first17 + id_check_char(first17)
            if number not in used:
                used.add(number)
                return number

    statuses = ("exited",) * 90 + ("poor",) * 4 + ("edge",) * 3 + ("monitored",) * 3
    for i, size in enumerate(sizes):
        code, town, village = villages[i % len(villages)]
        no = f"{code}{i + 1:06d}"
        head_name = f"{rng.choice(GIVEN[:15])}·{rng.choice(GIVEN[:15])}"
        head_id = resident_id(rng.randrange(1950, 1995), False)
        card = card_number(i + 1)
        c.households.append(HouseholdIn(no, code, village, head_name, head_id, size, rng.choice(statuses), card,
                                        f"139{rng.randrange(10**8):08d}"))
        c.persons.append(PersonIn(no, head_name, head_id, "head"))
        c.heads[no] = (head_id, head_name, card)
        c.township_of[no] = code
        c.by_township.setdefault(code, []).append(no)
        family = []
        for k in range(size - 1):
            relation = "spouse" if k == 0 else ("child" if k < 5 else "parent")
            year = {"spouse": rng.randrange(1952, 1998), "child": rng.randrange(2000, 2024),
                    "parent": rng.randrange(1935, 1960)}[relation]
            female = relation == "spouse" or rng.random() < 0.5
            name = f"{rng.choice(GIVEN[15:] if female else GIVEN[:15])}·{head_name.split('·')[0]}"
            pid = resident_id(year, female)
            c.persons.append(PersonIn(no, name, pid, relation))
            family.append((pid, name))
        c.members[no] = family
    return c


def scaled(n: int, scale: Scale) -> int:
    return max(1, (n * scale.twentieths + 10) // 20)  # integer arithmetic, half up


# ---------------------------------------------------------------------------------------------
# Building it through the services


Progress = Callable[[str, int], None]  # (what is being done, weight of the step just finished)
STEPS = (("registry", 30), ("funds", 2), ("projects", 4), ("subsidies", 20), ("posts", 6), ("wages", 30),
         ("in kind", 4), ("today's work", 3), ("reference lists", 1))
TOTAL_WEIGHT = sum(w for _, w in STEPS)


def already_built(engine: Engine) -> bool:
    with read_only(engine) as s:
        return s.execute(select(Township.__table__.c.id).where(Township.__table__.c.code == TOWNSHIPS[0][0])
                         ).first() is not None


def build_demo(engine: Engine, scale_name: str = "town", seed: int = 7, progress: Progress | None = None,
               today: dt.date | None = None) -> dict:
    """Build the county; returns what was built. Idempotent: a county already there is left alone."""
    scale = SCALES[scale_name]
    progress = progress or (lambda label, weight: None)
    today = today or dt.date.today()
    ensure_demo_users(engine)
    if already_built(engine):
        progress("already built", TOTAL_WEIGHT)
        return {"already_built": True}
    who = demo_actors(engine)
    fo, ap = who["finance"], who["approver"]
    rng = random.Random(seed + 1)
    c = generate_county(scale, seed)
    out: dict = {"scale": scale.name, "seed": seed}

    registry.upsert_townships(engine, SYSTEM, c.townships)
    reg = registry.upsert_households(engine, fo, c.households, c.persons, create_villages=True,
                                     effective_on=dt.date(YEAR, 1, 1), reason="2026年动态调整 annual update")
    out |= {"townships": len(c.townships), "villages": reg.villages_created, "households": len(c.households),
            "persons": len(c.persons)}
    progress("registry", 30)

    history = HistoryMark(ap.username, "demo-" + scale.name)
    for code, name, kind, doc in FUNDS:
        services.register_fund(engine, SYSTEM, code, name, kind, doc)
    # Funds arrive in two tranches: in January what the programmes are allocated (so that no as-of
    # balance of the pool is ever negative), in June a tenth more that stays in the pool, unallocated.
    need = _allocations(scale)
    for code, name, _, doc in FUNDS:
        first = sum(fen for (_, fund), fen in need.items() if fund == code)
        total = first * 11 // 10
        services.receive_fund(engine, SYSTEM, f"demo:{code}:1", code, first, dt.date(YEAR, 1, 5),
                              f"{name} 第一批 {doc}")
        services.receive_fund(engine, SYSTEM, f"demo:{code}:2", code, total - first, dt.date(YEAR, 6, 1),
                              f"{name} 第二批 {doc}")
    out["funds"] = len(FUNDS)
    progress("funds", 2)

    names = dict(TOWNSHIPS)
    project_codes: dict[str, str] = {}
    for ind in INDUSTRIES + (Industry("welfare_post", "公益性岗位", 0, 0, (), WAGE_FUNDS),):
        code = f"XM-{YEAR}-{ind.key.upper().replace('_', '')}"
        town = names[ind.townships[0]] if len(ind.townships) == 1 and ind.townships[0] in dict(
            TOWNSHIPS[:scale.townships]) else None
        projects.create_project(engine, fo, ProjectIn(
            code, f"{YEAR}年{ind.name}项目", ind.key, dt.date(YEAR, 1, 1), sum(
                fen for (k, _), fen in need.items() if k == ind.key) or 1, township=town,
            implementer=ind.implementer, standard_fen=ind.standard_yuan * 100 or None, end_on=dt.date(YEAR, 12, 31),
            performance_target=f"带动 {scaled(ind.households, scale):,} 户增收" if ind.households else "按月足额发放"))
        projects.change_project_status(engine, ap, code, "approved", "县项目库批复")
        projects.change_project_status(engine, fo, code, "implementing", "开工实施")
        project_codes[ind.key] = code
        for (key, fund), fen in need.items():
            if key == ind.key:
                req = projects.prepare_allocation(engine, fo, f"demo:alloc:{code}:{fund}", code, fund, fen,
                                                  dt.date(YEAR, 1, 8 + ind.funds.index(fund)),
                                                  f"{ind.name} {fund}")
                projects.approve_request(engine, ap, req.id)
    out["projects"] = len(project_codes)
    progress("projects", 4)

    # Subsidies: each programme's households, paid in monthly history batches from April to October.
    rows: list[PaymentIn] = []
    deliveries: list[PaymentIn] = []
    draft_rows: list[PaymentIn] = []
    for ind in INDUSTRIES:
        # A programme runs in its townships; at town scale, where they are not built, anywhere.
        pool = [h for t in ind.townships for h in c.by_township.get(t, ())] or [h.household_no for h in c.households]
        chosen = rng.sample(pool, min(len(pool), scaled(ind.households, scale)))
        code = project_codes[ind.key]
        for i, no in enumerate(chosen):
            pid, name, card = c.heads[no]
            month = 4 + i * 7 // len(chosen)
            paid_on = dt.date(YEAR, month, 15)
            if ind.in_kind:
                item, qty, price = ind.in_kind
                if i < len(chosen) * 8 // 10:  # a fifth still waits for its ewes: the advance ages
                    deliveries.append(PaymentIn(f"DEMO-{ind.key}-{no}", f"{code}-D{month:02d}", code, no, pid, name,
                                                None, qty * price * 100, paid_on, "in_kind", f"{YEAR}-{month:02d}",
                                                item, qty, price * 100))
                continue
            ref, batch = f"DEMO-{ind.key}-{no}", f"{code}-{month:02d}"
            if ind.key == "goose" and i >= len(chosen) - max(3, len(chosen) // 20):
                draft_rows.append(PaymentIn(ref, f"{code}-11", code, no, pid, name, card, ind.standard_yuan * 100,
                                            dt.date(YEAR, 11, 25), "subsidy", f"{YEAR}-11"))
                continue
            rows.append(PaymentIn(ref, batch, code, no, pid, name, card, ind.standard_yuan * 100, paid_on,
                                  "subsidy", f"{YEAR}-{month:02d}"))
    done = payments.import_payments(engine, SYSTEM, rows, declared_count=None, declared_total_fen=None,
                                    history=history, file_sha256=None)
    out["subsidy_rows"] = done["rows_created"]
    progress("subsidies", 20)

    posts = _post_rows(c, scale, rng, project_codes["welfare_post"])
    _register_posts(engine, fo, posts)
    out["posts"] = len(posts)
    progress("posts", 6)

    wages = [PaymentIn(f"DEMO-WAGE-{p.post_no}-{YEAR}-{m:02d}", f"WAGE-{YEAR}-{m:02d}", p.project_code,
                       p.household_no, p.holder_id_number, p.holder_name, c.heads[p.household_no][2],
                       p.monthly_wage_fen, dt.date(YEAR, m, 10) + dt.timedelta(days=25), "wage", f"{YEAR}-{m:02d}")
             for m in range(1, HISTORY_WAGE_MONTHS + 1) for p in posts]
    done = payments.import_payments(engine, SYSTEM, wages, declared_count=None, declared_total_fen=None,
                                    history=history, file_sha256=None)
    out["wage_rows"] = done["rows_created"]
    progress("wages", 30)

    sheep = next(i for i in INDUSTRIES if i.in_kind)
    sheep_code = project_codes[sheep.key]
    if deliveries:
        advance_fen = scaled(sheep.households, scale) * sheep.standard_yuan * 100
        payments.prepare_advance(engine, fo, f"{sheep_code}-ADV", f"DEMO-ADV-{sheep_code}", sheep_code, advance_fen,
                                 dt.date(YEAR, 3, 20), "生产母羊采购预付款")
        payments.approve_batch(engine, ap, f"{sheep_code}-ADV", today=dt.date(YEAR, 3, 20))
        payments.import_payments(engine, SYSTEM, deliveries, declared_count=None, declared_total_fen=None,
                                 history=history, file_sha256=None)
    out["in_kind_deliveries"] = len(deliveries)
    progress("in kind", 4)

    out |= _todays_work(engine, fo, ap, c, draft_rows, posts, today)
    progress("today's work", 3)

    out["planted"] = _plant_irregularities(engine, fo, c, rows, wages, rng)
    progress("reference lists", 1)
    return out


def _allocations(scale: Scale) -> dict[tuple[str, str], int]:
    """(industry, fund) -> fen to allocate: what each programme pays, plus a margin that stays idle,
    split over its funds in order (the first fund carries 60 %)."""
    out: dict[tuple[str, str], int] = {}
    for ind in INDUSTRIES:
        total = scaled(ind.households, scale) * ind.standard_yuan * 100 * 115 // 100
        shares = [60, 40] if len(ind.funds) == 2 else [100]
        for fund, share in zip(ind.funds, shares, strict=True):
            out[(ind.key, fund)] = total * share // 100
    wages = sum(scaled(n, scale) * wage * 100 for _, n, wage in POSTS) * 12
    out[("welfare_post", WAGE_FUNDS[0])] = wages * 7 // 10
    out[("welfare_post", WAGE_FUNDS[1])] = wages - wages * 7 // 10
    return out


@dataclass(frozen=True, slots=True)
class DemoPost:
    post_no: str
    post_type: str
    project_code: str
    household_no: str
    holder_id_number: str
    holder_name: str
    monthly_wage_fen: int
    start_on: dt.date


def _post_rows(c: County, scale: Scale, rng: random.Random, project_code: str) -> list[DemoPost]:
    """One post per household, held by an adult member (the head, or the spouse)."""
    households = rng.sample([h.household_no for h in c.households],
                            min(len(c.households), sum(scaled(n, scale) for _, n, _ in POSTS)))
    out, i = [], 0
    for post_type, n, wage in POSTS:
        for _ in range(scaled(n, scale)):
            if i >= len(households):
                return out
            no = households[i]
            i += 1
            holder = c.heads[no][:2] if not c.members[no] or rng.random() < 0.7 else c.members[no][0]
            out.append(DemoPost(f"GY-{post_type.upper()}-{i:05d}", post_type, project_code, no, holder[0], holder[1],
                                wage * 100, dt.date(YEAR, 1, 1)))
    return out


def _register_posts(engine: Engine, actor: Actor, posts: list[DemoPost]) -> None:
    from ledger import welfare

    welfare.upsert_posts(engine, actor, [welfare.PostIn(
        post_no=p.post_no, post_type=p.post_type, project_code=p.project_code, household_no=p.household_no,
        holder_id_number=p.holder_id_number, holder_name=p.holder_name, monthly_wage_fen=p.monthly_wage_fen,
        start_on=p.start_on) for p in posts])


def _todays_work(engine: Engine, fo: Actor, ap: Actor, c: County, draft_rows: list[PaymentIn],
                 posts: list[DemoPost], today: dt.date) -> dict:
    """What waits for the demo users: a draft roll, a wage roll ready for approval, bank returns."""
    out: dict = {}
    if draft_rows:
        payments.import_payments(engine, fo, draft_rows, declared_count=len(draft_rows),
                                 declared_total_fen=sum(r.amount_fen for r in draft_rows))
        out["draft_batch"] = draft_rows[0].batch_no
    month = HISTORY_WAGE_MONTHS + 1
    period = f"{YEAR}-{month:02d}"
    roll = [PaymentIn(f"DEMO-WAGE-{p.post_no}-{period}", f"WAGE-{period}", p.project_code, p.household_no,
                      p.holder_id_number, p.holder_name, c.heads[p.household_no][2], p.monthly_wage_fen,
                      dt.date(YEAR, month, 30), "wage", period) for p in posts]
    payments.import_payments(engine, fo, roll, declared_count=len(roll),
                             declared_total_fen=sum(r.amount_fen for r in roll))
    # Published on the notice boards long enough ago that the approver may decide today.
    days = payments.disclosure_days_minimum()
    payments.disclose_batch(engine, fo, f"WAGE-{period}", today - dt.timedelta(days=days + 2), days,
                           today=today)
    out["disclosed_batch"] = f"WAGE-{period}"
    # A small December roll, disclosed and approved, whose bank return bounced two cards.
    sample = posts[:12]
    december = [PaymentIn(f"DEMO-BONUS-{p.post_no}", f"WAGE-{YEAR}-12-A", p.project_code, p.household_no,
                          p.holder_id_number, p.holder_name, c.heads[p.household_no][2], p.monthly_wage_fen,
                          today - dt.timedelta(days=2), "wage", f"{YEAR}-12") for p in sample]
    if len(december) >= 3:
        payments.import_payments(engine, fo, december, declared_count=len(december),
                                 declared_total_fen=sum(r.amount_fen for r in december))
        payments.disclose_batch(engine, fo, f"WAGE-{YEAR}-12-A", today - dt.timedelta(days=days + 1), days,
                               today=today)
        payments.approve_batch(engine, ap, f"WAGE-{YEAR}-12-A", today=today)
        payments.record_bank_returns(engine, fo, [
            BankReturnIn(december[0].ref, "failed", today, "账户已冻结 account frozen"),
            BankReturnIn(december[1].ref, "failed", today, "户名不符 name mismatch"),
        ] + [BankReturnIn(r.ref, "paid", today) for r in december[2:]])
        payments.reissue(engine, fo, f"WAGE-{YEAR}-12-A-R", [december[0].ref], today, "解冻后重新发放")
        out["returned_batch"] = f"WAGE-{YEAR}-12-A"
    return out


def _plant_irregularities(engine: Engine, fo: Actor, c: County, subsidies: list[PaymentIn],
                          wages: list[PaymentIn], rng: random.Random) -> int:
    """Reference lists the supervision rules compare payees with, seeded with a few true matches: payees
    who died before they were paid, who are on the public payroll, who own a car, officials paying
    themselves. Plus many names that match nobody (most of a real list does not)."""
    paid = sorted({(r.payee_id_number, r.payee_name) for r in wages[:len(wages) // 3]})
    picks = rng.sample(paid, min(len(paid), 9))
    refs = [ReferenceIn(pid, name, "death", dt.date(YEAR, 4, 3)) for pid, name in picks[:3]]
    refs += [ReferenceIn(pid, name, "public_employee", dt.date(YEAR - 3, 9, 1)) for pid, name in picks[3:5]]
    refs += [ReferenceIn(pid, name, "vehicle", dt.date(YEAR, 2, 14)) for pid, name in picks[5:7]]
    if refs:
        registry.upsert_reference_entries(engine, fo, refs)
    officials = []
    for pid, name in picks[7:9]:
        no = next(r.household_no for r in wages if r.payee_id_number == pid)
        village = next(h.village for h in c.households if h.household_no == no)
        officials.append(OfficialIn(pid, name, "村委会委员", c.township_of[no], village))
    if officials:
        registry.upsert_officials(engine, fo, officials)
    return len(refs) + len(officials)


def verify_demo(engine: Engine) -> tuple[bool, int]:
    result = services.verify_journal(engine, SYSTEM)
    return result.ok, result.entries_checked


__all__ = ["build_demo", "ensure_demo_users", "demo_password", "SCALES", "LedgerRefusal"]
