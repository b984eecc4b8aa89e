"""The dashboard fixture: two communities with figures computed by hand.

As of D = 2026-11-20 (Shanghai), period 2026-10 (due 2026-10-15):

    house  item  due (fen)                   paid as of D (fen)
    A-h1   物业费 25000                       25000  (wechat 10-10)
    A-h1   停车费 15000                       15000  (same payment)
    A-h2   物业费 25000                       25000  (cash 11-05)
    A-h2   停车费 15000 − 5000 adj = 10000    0
    A-h3   物业费 25000 + 100 late = 25100    10000 − 5000 refund = 5000
    B-h4   物业费 20000                       20000  (wechat 11-10)

    total 120100 due, 90000 paid → 74.94 %; houses 2/4 → 50.00 %
    A     100100 due, 70000 paid → 69.93 %; houses 1/3 → 33.33 %
    B      20000 due, 20000 paid → 100.00 %; houses 1/1
    A·物业费 75100/55000 → 73.24 %, 2/3;  A·停车费 25000/15000 → 60.00 %, 1/2

Arrears as of D (balance > 0, due date before D), days = D − due date:
    0–30   : A-h1 2026-11 物业费 25000 (5 days)                      1 bill, 1 house, 250.00
    31–90  : A-h2 停车费 10000, A-h3 物业费 20100 (36 days),
             A-h2 2026-09 物业费 25000 (66 days)                     3 bills, 2 houses, 551.00
    91–180 : B-h4 2026-07 物业费 20000 (128 days)                    1 bill, 1 house, 200.00
    >180   : A-h3 2026-04 物业费 25000 (219 days)                    1 bill, 1 house, 250.00
    (A-h2 2026-11 物业费, due 2026-11-25, is not yet due.)

Channels, period 2026-11 as of D (11-01..11-20): 微信支付 2 / 300.00
(B-h4 200.00 + A-h3 100.00 at 23:30 on D), 现金 1 / 250.00; period 2026-10: 微信支付 1 / 400.00.

Open work: alerts 2 (A 1, B 1; one more acknowledged), disputes 1 (A), reconciliation items 1.

``after_d`` adds what happens later (payments from 00:10 on D+1, a refund, an
adjustment, a late fee, a new bill of 2026-10 issued after D) and rewrites the
bills' running totals: none of it may change the report for D.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from server.alerts import Alert
from server.billing.models import (Adjustment, AdjustmentKind, AdjustmentStatus, Bill, BillStatus,
                                   LateFeeAccrual)
from server.disputes.models import Dispute, DisputeReason
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.property.models import Owner
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.timeutil import SHANGHAI, UTC
from tests import factories as f

AS_OF = dt.date(2026, 11, 20)
PERIOD = "2026-10"


def sh(y, m, d, h=12, mi=0) -> dt.datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return dt.datetime(y, m, d, h, mi, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class DashboardFixture:
    a: object
    b: object
    houses: dict = field(default_factory=dict)
    bills: dict = field(default_factory=dict)


def _bill(h, item, period, amount, issued, due_day=15):
    return f.bill(h, item, period=period, amount_fen=amount, due_day=due_day, issued_at=issued)


def _pay(comm, channel, amount, at, allocations):
    p = Payment.create(community=comm, channel=channel, amount_fen=amount, received_at=at,
                       created_at=at)
    for b, fen in allocations:
        Allocation.create(payment=p, bill=b, amount_fen=fen, created_at=at)
    return p


def build() -> DashboardFixture:
    a = f.community("阳光小区", "A")
    b = f.community("翠湖苑", "B")
    a_wyf, a_tcf = f.fee_item(a, "WYF", "物业费"), f.fee_item(a, "TCF", "停车费")
    b_wyf = f.fee_item(b, "WYF", "物业费")
    bldg_a, bldg_b = f.building(a, "1栋"), f.building(b, "1栋")
    h1, h2, h3 = (f.house(a, bldg_a, room_no=r) for r in ("101", "102", "103"))
    h4 = f.house(b, bldg_b, room_no="201")
    fx = DashboardFixture(a, b, houses={"h1": h1, "h2": h2, "h3": h3, "h4": h4})
    oct1 = sh(2026, 10, 1)
    bills = fx.bills
    bills["h1_wyf"] = _bill(h1, a_wyf, PERIOD, 25000, oct1)
    bills["h1_tcf"] = _bill(h1, a_tcf, PERIOD, 15000, oct1)
    bills["h2_wyf"] = _bill(h2, a_wyf, PERIOD, 25000, oct1)
    bills["h2_tcf"] = _bill(h2, a_tcf, PERIOD, 15000, oct1)
    bills["h3_wyf"] = _bill(h3, a_wyf, PERIOD, 25000, oct1)
    bills["h4_wyf"] = _bill(h4, b_wyf, PERIOD, 20000, oct1)
    bills["h1_nov"] = _bill(h1, a_wyf, "2026-11", 25000, sh(2026, 11, 1))
    bills["h2_nov"] = _bill(h2, a_wyf, "2026-11", 25000, sh(2026, 11, 1), due_day=25)
    bills["h2_sep"] = _bill(h2, a_wyf, "2026-09", 25000, sh(2026, 9, 1))
    bills["h4_jul"] = _bill(h4, b_wyf, "2026-07", 20000, sh(2026, 7, 1))
    bills["h3_apr"] = _bill(h3, a_wyf, "2026-04", 25000, sh(2026, 4, 1))

    _pay(a, "wechat", 40000, sh(2026, 10, 10), [(bills["h1_wyf"], 25000), (bills["h1_tcf"], 15000)])
    _pay(a, "cash", 25000, sh(2026, 11, 5), [(bills["h2_wyf"], 25000)])
    _pay(b, "wechat", 20000, sh(2026, 11, 10), [(bills["h4_wyf"], 20000)])
    p3 = _pay(a, "wechat", 10000, sh(2026, 11, 20, 23, 30), [(bills["h3_wyf"], 10000)])
    Refund.create(payment=p3, bill=bills["h3_wyf"], out_refund_no="R-fixture-1", amount_fen=5000,
                  reason="多缴", status=RefundStatus.SUCCESS, created_at=sh(2026, 11, 20, 23, 40),
                  succeeded_at=sh(2026, 11, 20, 23, 50))
    # A refund still processing at D does not count.
    Refund.create(payment=p3, bill=bills["h3_wyf"], out_refund_no="R-fixture-2", amount_fen=1000,
                  reason="多缴", status=RefundStatus.PROCESSING, created_at=sh(2026, 11, 20, 23, 45))
    Adjustment.create(bill=bills["h2_tcf"], kind=AdjustmentKind.DISCOUNT, amount_fen=-5000,
                      reason="车位维修减免", status=AdjustmentStatus.APPROVED,
                      created_at=sh(2026, 10, 20), decided_at=sh(2026, 11, 1))
    Adjustment.create(bill=bills["h2_wyf"], kind=AdjustmentKind.DISCOUNT, amount_fen=-9999,
                      reason="待审批", status=AdjustmentStatus.PENDING, created_at=sh(2026, 11, 2))
    LateFeeAccrual.create(bill=bills["h3_wyf"], accrual_date=dt.date(2026, 11, 1), amount_fen=100)

    Alert.create(kind="test", message="A 的告警", community_id=a.id)
    Alert.create(kind="test", message="B 的告警", community_id=b.id)
    Alert.create(kind="test", message="已确认", community_id=a.id, acknowledged_at=sh(2026, 11, 2),
                 acknowledged_by="boss")
    owner = Owner.create(openid="o-fixture")
    Dispute.create(bill=bills["h3_wyf"], owner=owner, reason=DisputeReason.AMOUNT, text="金额不对")
    run = ReconciliationRun.create(bill_date=dt.date(2026, 11, 19), status="done")
    ReconciliationItem.create(run=run, kind="missing_local", reference="T1")
    ReconciliationItem.create(run=run, kind="missing_remote", reference="T2",
                              resolved_at=sh(2026, 11, 20), resolved_by="boss", note="ok")
    return fx


def after_d(fx: DashboardFixture) -> None:
    """Everything that happens after D; the report for D must not move."""
    bills = fx.bills
    a, b = fx.a, fx.b
    first_minute = sh(2026, 11, 21, 0, 10)  # 16:10 UTC on D: already the next day in Shanghai
    p = _pay(a, "wechat", 20100, first_minute, [(bills["h3_wyf"], 20100)])
    _pay(a, "cash", 35000, sh(2026, 11, 21, 9), [(bills["h2_tcf"], 10000), (bills["h2_sep"], 25000)])
    _pay(b, "pos", 20000, sh(2026, 11, 22), [(bills["h4_jul"], 20000)])
    Refund.create(payment=p, bill=bills["h3_wyf"], out_refund_no="R-after-1", amount_fen=100,
                  reason="多缴", status=RefundStatus.SUCCESS, created_at=sh(2026, 11, 22),
                  succeeded_at=sh(2026, 11, 22))
    Refund.update(status=RefundStatus.SUCCESS, succeeded_at=sh(2026, 11, 21)).where(
        Refund.out_refund_no == "R-fixture-2").execute()
    Adjustment.create(bill=bills["h3_apr"], kind=AdjustmentKind.WAIVER, amount_fen=-25000,
                      reason="减免", status=AdjustmentStatus.APPROVED, created_at=sh(2026, 11, 21),
                      decided_at=sh(2026, 11, 22))
    Adjustment.update(status=AdjustmentStatus.APPROVED, decided_at=sh(2026, 11, 21)).where(
        Adjustment.reason == "待审批").execute()
    LateFeeAccrual.create(bill=bills["h3_wyf"], accrual_date=dt.date(2026, 11, 21), amount_fen=100)
    h5 = f.house(a, room_no="105")
    _bill(h5, bills["h1_wyf"].fee_item, PERIOD, 25000, sh(2026, 11, 22))
    # The running totals on the bills move on; the report reads the ledger, not these.
    Bill.update(paid_fen=Bill.amount_fen, status=BillStatus.PAID).execute()
