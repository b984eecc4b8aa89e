"""A realistic demo: two communities, ~600 houses, five fee items, three months
of readings and bills, some already paid at the counter.

Deterministic (seeded) so screenshots and figures are repeatable.  Everything
goes through the same domain services staff use, so the demo also exercises
them end to end.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from server import audit
from server.billing import meters, runs, standards
from server.billing.models import Method
from server.db import transaction
from server.property.models import Building, Community, House, HouseStatus
from server.timeutil import add_months, current_period, day_in_month, local_today, period_start

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国志强文斌海燕晨阳子涵欣怡浩然宇轩"

COMMUNITIES = [
    # name, code, address, buildings, units, floors, rooms per floor, 物业费 元/m²·月, 停车费
    ("和园", "HY", "上海市浦东新区和园路 88 弄", 6, 3, 10, 2, "2.3500", None),
    ("锦苑", "JY", "上海市闵行区锦苑路 166 号", 4, 2, 15, 2, "1.8000", "150.0000"),
]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _create_houses(community: Community, spec, rng: random.Random) -> list[House]:
    _, _, _, n_buildings, n_units, n_floors, per_floor, *_ = spec
    rows = []
    for b in range(1, n_buildings + 1):
        building = Building.create(community=community, name=f"{b}号楼")
        for u in range(1, n_units + 1):
            for floor in range(1, n_floors + 1):
                for r in range(1, per_floor + 1):
                    area = Decimal(rng.randint(6000, 14500)) / 100
                    rows.append(dict(
                        community=community, building=building, unit=f"{u}单元",
                        room_no=f"{floor}{r:02d}", floor_area=area,
                        status=HouseStatus.VACANT if rng.random() < 0.06 else HouseStatus.OCCUPIED,
                        owner_name=_name(rng), owner_phone=f"13{rng.randint(100000000, 999999999)}"))
    with transaction():
        for start in range(0, len(rows), 200):
            House.insert_many(rows[start:start + 200]).execute()
    return list(House.select().where(House.community == community).order_by(House.id))


def _fee_items(community: Community, spec, actor, since: dt.date) -> dict[str, object]:
    *_, property_price, parking_price = spec
    wanted = [
        ("property", "物业费", dict(method=Method.PER_AREA, unit_price=Decimal(property_price),
                                    late_fee_daily_rate=Decimal("0.0005"), late_fee_grace_days=15,
                                    late_fee_cap_ratio=Decimal("0.2000"))),
        ("garbage", "垃圾处理费", dict(method=Method.FIXED, unit_price=Decimal("10.0000"))),
        ("water", "水费", dict(method=Method.METERED, unit="m³", unit_price=Decimal("3.5000"))),
        ("electricity", "电费", dict(method=Method.METERED, unit="kWh", unit_price=Decimal("0.6170"))),
    ]
    if parking_price:
        wanted.append(("parking", "停车费", dict(method=Method.FIXED, unit_price=Decimal(parking_price))))
    items = {}
    for code, name, values in wanted:
        item = standards.create_fee_item(community.id, code, name, actor)
        standard = standards.create_standard(item.id, actor, effective_from=since, due_day=25,
                                             note="2026 年度收费标准（已公示）", **values)
        standards.publish_standard(standard.id, actor)
        items[code] = item
    return items


def _readings(houses, items, periods, actor, rng: random.Random) -> None:
    for code, typical in (("water", (8, 22)), ("electricity", (120, 380))):
        item = items[code]
        for house in houses:
            level = Decimal(rng.randint(100, 5000))
            meters.install_meter(house.id, item.id, level, period_start(periods[0]) - dt.timedelta(days=1),
                                 serial=f"{code[0].upper()}{house.id:06d}", actor=actor)
            for period in periods:
                occupied = house.status == HouseStatus.OCCUPIED
                usage = Decimal(rng.randint(*typical)) if occupied else Decimal(0)
                if occupied and rng.random() < 0.01:
                    usage *= 5  # a leak: shows up as an anomaly in the billing preview
                level += usage
                meters.record_reading(house.id, item.id, period, level,
                                      day_in_month(period, 20), actor, source="demo")


def load_demo(*, seed: int = 20261123, today_period: str | None = None, pay=None,
              communities=COMMUNITIES) -> dict:
    """Create the demo data; ``pay(bill_ids_by_house, rng)`` records payments if given."""
    rng = random.Random(seed)
    actor = audit.Actor.system("demo")
    last = today_period or current_period()
    periods = [add_months(last, -2), add_months(last, -1), last]
    summary = {"communities": 0, "houses": 0, "bills": 0}
    for spec in communities:
        name, code, address = spec[:3]
        community = Community.create(name=name, code=code, address=address)
        houses = _create_houses(community, spec, rng)
        items = _fee_items(community, spec, actor, period_start(periods[0]).replace(month=1))
        _readings(houses, items, periods, actor, rng)
        for period in periods:
            run = runs.issue_run(community.id, period, actor)
            summary["bills"] += run.bills_created
        summary["communities"] += 1
        summary["houses"] += len(houses)
    if pay is not None:
        summary["payments"] = pay(periods, rng)
        summary.update(leave_work_for_staff(periods))
    return summary


def is_empty() -> bool:
    return Community.select().count() == 0


DEMO_STAFF_PASSWORD = "wuyepay-demo"    # the demo's cashiers and manager: demo data only


def _demo_staff(username: str, display_name: str, role: str):
    """A demo staff member who can sign in (password DEMO_STAFF_PASSWORD) to every community."""
    from server.admin.auth import hash_password
    from server.staff.models import StaffCommunity, StaffUser

    user, created = StaffUser.get_or_create(username=username, defaults={
        "display_name": display_name, "role": role, "password_hash": hash_password(DEMO_STAFF_PASSWORD)})
    if created:
        for community in Community.select().order_by(Community.id):
            StaffCommunity.create(staff=user, community=community)
    return user


def pay_some_at_the_counter(periods: list[str], rng: random.Random) -> int:
    """Book realistic offline payments: most of the oldest month, half of the
    next, a few of the newest, as cash, bank transfer and POS by two cashiers."""
    from payments import offline
    from payments.models import Channel
    from server.billing.models import Bill, BillStatus
    from server.staff.models import StaffRole

    cashiers = [_demo_staff(name, label, StaffRole.CASHIER)
                for name, label in (("cashier1", "收银员小王"), ("cashier2", "收银员小李"))]
    _demo_staff("manager1", "经理老张", StaffRole.MANAGER)
    _demo_staff("viewer1", "财务查询", StaffRole.VIEWER)
    share = {periods[0]: 0.85, periods[1]: 0.5, periods[2]: 0.1}
    count = 0
    for community in Community.select().order_by(Community.id):
        houses = (House.select(House.id).where(House.community == community).order_by(House.id))
        for house in houses:
            for period in periods:
                if rng.random() >= share[period]:
                    continue
                bills = list(Bill.select().where(Bill.house == house.id, Bill.period == period,
                                                 Bill.status.in_(BillStatus.OPEN)))
                if not bills:
                    continue
                channel = rng.choice((Channel.CASH, Channel.BANK_TRANSFER, Channel.POS, Channel.POS))
                cashier = rng.choice(cashiers)
                day = min(day_in_month(period, rng.randint(20, 28)), local_today())
                offline.record_offline_payment(
                    community.id, [(b.id, b.balance_fen) for b in bills], channel,
                    f"{community.code}-{period}-{house.id:05d}", "", audit.Actor.staff(cashier),
                    approval_threshold_fen=10**12, received_on=day)
                count += 1
    return count


def leave_work_for_staff(periods: list[str]) -> dict:
    """What a manager finds waiting on the demo, made through the staff services:
    an adjustment above the approval threshold and a refund request, both waiting
    for approval, and the newest period's billing re-run as a finished staff task."""
    from jobs import backends
    from payments import refunds
    from payments.models import Channel
    from server import tasks
    from server.billing import adjustments
    from server.billing.models import AdjustmentKind, Bill, BillStatus, FeeItem
    from server.config import Config
    from server.ledger.models import Allocation, Payment
    from server.staff.models import StaffUser

    cashier = StaffUser.get(StaffUser.username == "cashier1")
    manager = StaffUser.get(StaffUser.username == "manager1")
    done = {}
    # The largest open metered bill of the newest period: a suspected leak, corrected
    # down to a fifth; above the threshold, so it waits for a second staff member.
    bill = (Bill.select().join(FeeItem).where(Bill.period == periods[-1], Bill.status == BillStatus.UNPAID,
                                              FeeItem.code.in_(("water", "electricity")))
            .order_by(Bill.amount_fen.desc(), Bill.id).first())
    if bill is not None:
        amount = -(bill.balance_fen - bill.balance_fen // 5)
        threshold = min(Config.ADJUSTMENT_APPROVAL_THRESHOLD_FEN, abs(amount))
        adjustments.request_adjustment(bill.id, AdjustmentKind.CORRECTION, amount,
                                       "业主反映表计异常，经现场核查为漏水，按正常用量更正", audit.Actor.staff(cashier),
                                       approval_threshold_fen=threshold)
        done["pending_adjustment_bill"] = bill.id
    # A refund request for a parking fee paid at the counter (or any counter payment).
    allocation = (Allocation.select(Allocation, Payment).join(Payment)
                  .switch(Allocation).join(Bill).join(FeeItem)
                  .where(Payment.channel != Channel.WECHAT)
                  .order_by((FeeItem.code == "parking").desc(), Allocation.id).first())
    if allocation is not None:
        refunds.request_refund(allocation.payment_id, allocation.bill_id, allocation.amount_fen,
                               "车位已于上月退租，退还多缴的停车费", audit.Actor.staff(cashier),
                               request_key="demo-refund-1")
        done["pending_refund_payment"] = allocation.payment_id
    # The newest period issued again as a staff task: nothing new, a finished task to show.
    previous = backends._backend
    backends.use_backend(backends.InlineBackend())
    try:
        for community in Community.select().order_by(Community.id):
            tasks.start("billing_issue", {"community_id": community.id, "period": periods[-1]},
                        audit.Actor.staff(manager), community_id=community.id,
                        label=f"{community.name} {periods[-1]} 开账")
    finally:
        backends.use_backend(previous)
    return done
