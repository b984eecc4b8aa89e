"""Counting the SQL statements a request sends, and a dataset that grows.

peewee logs every statement it executes on the ``peewee`` logger at DEBUG;
:func:`count_queries` collects them.  :class:`Growing` is two communities with
records of every kind; ``grow(n)`` adds ``n`` more of each (houses, owners,
bindings, bills, readings, runs, adjustments, late fees, offline and WeChat
payments with allocations, refunds, disputes and replies, reminders, alerts,
reconciliation differences, tasks, staff, tokens, audit rows, whole
communities) — also hung on one record of each kind ("the focus"), so the
detail pages grow too.  A list or detail whose query count is the same before
and after ``grow`` does not query per row.
"""
from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import logging
import re
from decimal import Decimal

from payments import offline
from payments import refunds as refund_service
from payments.models import CashClose, NotifyEvent, OrderBill, OrderStatus, PaymentOrder
from server import db
from server.alerts import Alert
from server.audit import Actor, record
from server.billing.models import (Adjustment, AdjustmentKind, AdjustmentStatus, BillingRun,
                                   LateFeeAccrual, Method, RunStatus)
from server.disputes import services as disputes
from server.disputes.models import Dispute, DisputeReason
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.owners.models import BindingCode
from server.property.models import Binding, BindingStatus, Owner
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.staff import tokens
from server.staff.models import StaffCommunity, StaffRole, StaffUser
from server.tasks.models import AdminTask, TaskStatus
from server.timeutil import local_today, utcnow
from templates_msg.models import ReminderLog, Subscription
from tests import factories as f


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record):
        sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
        self.statements.append(sql)


@contextlib.contextmanager
def count_queries():
    """``with count_queries() as q: …`` then ``len(q)`` / ``q`` (the SQL strings)."""
    logger = logging.getLogger("peewee")
    handler, level = _Collector(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _shape(sql: str) -> str:
    return re.sub(r"\?(, \?)+", "?…", re.sub(r"\s+", " ", sql))[:200]


def difference(few: list[str], many: list[str]) -> str:
    """The statements sent more often with more rows (for the assertion message)."""
    extra = collections.Counter(map(_shape, many)) - collections.Counter(map(_shape, few))
    return "\n".join(f"+{n} {sql}" for sql, n in extra.most_common(5))


def assert_same_count(few: list[str], many: list[str], what: str) -> None:
    assert len(many) == len(few), (
        f"{what}: {len(few)} queries, then {len(many)} with more rows:\n{difference(few, many)}")


# --- a dataset that grows ---------------------------------------------------------------

PASSWORD = "correct horse 42"


@functools.lru_cache(maxsize=1)
def _password_hash() -> str:
    from server.admin.auth import hash_password

    return hash_password(PASSWORD)


def staff_user(username: str, role: str, communities=()) -> StaffUser:
    user = StaffUser.create(username=username, role=role, password_hash=_password_hash())
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


class Growing:
    """Communities A and B, staff ``boss`` (admin), ``manager`` (A, B) and ``cashier`` (A),
    both also of every community added, and one focus record of each kind."""

    def __init__(self):
        with db.transaction():
            self._focus()
        self.units = 0
        self.grow(1)

    def _focus(self) -> None:
        self.a, self.b = f.community("阳光小区", "A"), f.community("翠湖苑", "B")
        self.boss = staff_user("boss", StaffRole.ADMIN)
        self.manager = staff_user("manager", StaffRole.MANAGER, [self.a, self.b])
        self.cashier = staff_user("cashier", StaffRole.CASHIER, [self.a])
        self.cashier_actor = Actor.staff(self.cashier)
        self.bldg = f.building(self.a, "1栋")
        self.wyf = f.fee_item(self.a, "WYF", "物业费")
        f.standard(self.wyf, Method.PER_AREA, "2.5000")
        self.sf = f.fee_item(self.a, "SF", "水费")
        f.standard(self.sf, Method.METERED, "4.1000", unit="m³")
        b_item = f.fee_item(self.b, "WYF", "物业费")
        f.bill(f.house(self.b, room_no="901"), b_item, period="2026-01", amount_fen=20_000)
        self.house = f.house(self.a, self.bldg, room_no="101")
        self.house.owner_name, self.house.owner_phone = "张三", "13800000001"
        self.house.save()
        self.owner = Owner.create(openid="o-focus", nickname="业主甲", phone="13800000001")
        Binding.create(owner=self.owner, house=self.house, verified_by="phone")
        # The focus bill: big enough to take a little of every payment.
        self.bill = f.bill(self.house, self.wyf, period="2026-01", amount_fen=10_000_000)
        self.run = BillingRun.create(community=self.a, period="2026-02", status=RunStatus.ISSUED,
                                     created_by=self.manager, finished_at=utcnow())
        self.order = PaymentOrder.create(out_trade_no="QCFOCUS1", community=self.a, house=self.house,
                                         owner=self.owner, total_fen=0, status=OrderStatus.PAID,
                                         paid_at=utcnow(), transaction_id="TXFOCUS1")
        self.payment = Payment.create(community=self.a, order=self.order, channel="wechat", amount_fen=0,
                                      transaction_id="TXFOCUS1", receipt_no="RQC-FOCUS")
        dispute_bill = f.bill(self.house, self.sf, period="2026-01", amount_fen=5_000)
        self.dispute = disputes.open_dispute(self.owner.id, dispute_bill.id, DisputeReason.AMOUNT, "水量不对")
        self.day = local_today() - dt.timedelta(days=1)
        self.recon = ReconciliationRun.create(bill_date=self.day, status="done")
        self.task = AdminTask.create(kind="export", label="导出", status=TaskStatus.DONE, total=1, done=1,
                                     community_id=self.a.id, staff_id=self.boss.id, created_by="boss",
                                     result={"rows": 1}, finished_at=utcnow())

    def grow(self, n: int) -> None:
        with db.transaction():  # one commit: fast on SQLite
            for _ in range(n):
                self.units += 1
                self._unit(self.units)

    def _unit(self, k: int) -> None:
        a, now = self.a, utcnow()
        bldg = f.building(a, f"{k}号楼")
        house = f.house(a, bldg, room_no=f"{k:03d}")
        house.owner_name, house.owner_phone = f"业主{k}", f"1390000{k:04d}"
        house.save()
        owner = Owner.create(openid=f"o-qc-{k}", nickname=f"业主{k}", phone=f"1390000{k:04d}")
        Binding.create(owner=owner, house=house, verified_by="phone")
        Binding.create(owner=owner, house=self.house, verified_by="staff", status=BindingStatus.PENDING)
        decided = Owner.create(openid=f"o-qc-d{k}", nickname=f"租户{k}")
        Binding.create(owner=decided, house=self.house, verified_by="staff", status=BindingStatus.ACTIVE,
                       decided_at=now)
        BindingCode.create(house=self.house, role="tenant", code_hash=f"qc-code-{k}",
                           expires_at=now + dt.timedelta(days=7), created_by=self.manager)
        # Bills: one per item for the new house (in the focus run), more on the focus house.
        f.meter(house, self.sf)
        reading = f.reading(house, self.sf, "2026-01", "0", str(10 + k))
        reading.created_by = self.cashier
        reading.save()
        wyf_bill = f.bill(house, self.wyf, period="2026-01", amount_fen=30_000, billing_run=self.run)
        f.bill(house, self.sf, period="2026-01", amount_fen=4_100, billing_run=self.run,
               meter_reading=reading, method=Method.METERED, previous_reading=Decimal(0),
               current_reading=Decimal(10 + k))
        f.bill(self.house, self.wyf, period=f"{2000 + k}-03", amount_fen=25_000)
        BillingRun.create(community=a, period=f"{2000 + k}-03", status=RunStatus.PREVIEWED,
                          created_by=self.manager, houses=1, total_fen=25_000)
        BillingRun.create(community=a, period=self.run.period, status=RunStatus.PREVIEWED,
                          created_by=self.manager)
        self.run.problems = [*(self.run.problems or []),
                             {"kind": "missing_reading", "house_id": house.id, "message": f"{k:03d} 缺少读数"}]
        self.run.totals_by_item = {**(self.run.totals_by_item or {}),
                                   f"X{k}": {"name": f"项目{k}", "bills": 1, "total_fen": 100}}
        self.run.save()
        LateFeeAccrual.create(bill=self.bill, accrual_date=dt.date(2000 + k, 1, 1), amount_fen=10)
        Adjustment.create(bill=wyf_bill, kind=AdjustmentKind.DISCOUNT, amount_fen=-1_000, reason="待审批",
                          status=AdjustmentStatus.PENDING, requested_by=self.cashier)
        Adjustment.create(bill=self.bill, kind=AdjustmentKind.CORRECTION, amount_fen=100, reason="更正",
                          status=AdjustmentStatus.APPROVED, requested_by=self.cashier,
                          decided_by=self.manager, decided_at=now)
        record(self.cashier_actor, "bill.adjust", "bill", self.bill.id, community_id=a.id,
               before={"adjusted_fen": 0}, after={"adjusted_fen": 100})
        # An offline payment (through the service: order, receipt, audit) for the new bill and
        # the focus bill, and a refund request on it.
        order = offline.record_offline_payment(
            a.id, [(wyf_bill.id, 10_000), (self.bill.id, 100)], "cash", f"V-QC-{k}", f"付款人{k}",
            self.cashier_actor, approval_threshold_fen=10**9)
        payment = Payment.get(Payment.order == order.id)
        refund_service.request_refund(payment.id, self.bill.id, 50, "多缴", self.cashier_actor,
                                      request_key=f"qc-{k}")
        # A WeChat order paid, its callback, and its lines on the focus order and payment.
        wx = PaymentOrder.create(out_trade_no=f"QCWX{k}", community=a, house=house, owner=owner,
                                 total_fen=5_000, status=OrderStatus.PAID, paid_at=now,
                                 transaction_id=f"TXQC{k}")
        OrderBill.create(order=wx, bill=wyf_bill, amount_fen=5_000)
        wx_pay = Payment.create(community=a, order=wx, channel="wechat", amount_fen=5_000,
                                transaction_id=f"TXQC{k}", receipt_no=f"RQC-{k}")
        Allocation.create(payment=wx_pay, bill=wyf_bill, amount_fen=5_000)
        NotifyEvent.create(notification_id=f"N-QC-{k}", event_type="TRANSACTION.SUCCESS", verified=True,
                           status="applied", out_trade_no=wx.out_trade_no)
        OrderBill.create(order=self.order, bill=wyf_bill, amount_fen=100)
        Allocation.create(payment=self.payment, bill=wyf_bill, amount_fen=100)
        NotifyEvent.create(notification_id=f"N-QCF-{k}", event_type="TRANSACTION.SUCCESS", verified=True,
                           status="duplicate", out_trade_no=self.order.out_trade_no)
        record(Actor("wechat", "notify"), "order.query", "payment_order", self.order.id, community_id=a.id,
               before={"status": "paid"}, after={"status": "paid"})
        Refund.create(payment=self.payment, bill=wyf_bill, out_refund_no=f"RQC-F-{k}", amount_fen=10,
                      reason="多缴", status=RefundStatus.PENDING_APPROVAL, requested_by=self.cashier)
        # Disputes: a new one (open), and a reply on the focus one.
        disputes.open_dispute(owner.id, wyf_bill.id, DisputeReason.AMOUNT, f"第{k}号异议")
        disputes.reply_to_dispute(self.dispute.id, Actor.staff(self.manager), f"第{k}次答复")
        # Reminders, alerts, reconciliation, tasks.
        Subscription.create(owner=owner, template_id="SBX_TMPL_OVERDUE_000000000000000000000000",
                            remaining=1, accepted=1)
        for bill in (wyf_bill, self.bill):
            ReminderLog.create(bill=bill, owner=owner, stage="overdue_1",
                               template_id="SBX_TMPL_OVERDUE_000000000000000000000000", result="sent")
        Alert.create(kind="test", message=f"告警{k}", community_id=a.id)
        ReconciliationItem.create(run=self.recon, kind="amount_mismatch", reference=f"TXQC{k}",
                                  out_trade_no=wx.out_trade_no, remote_fen=5_100, local_fen=5_000,
                                  remote_status="SUCCESS", local_status="paid")
        ReconciliationRun.create(bill_date=self.day - dt.timedelta(days=k), status="done", differences=1)
        AdminTask.create(kind="export", label=f"导出{k}", status=TaskStatus.DONE, total=k, done=k,
                         community_id=a.id, staff_id=self.boss.id, created_by="boss", result={"rows": k},
                         finished_at=now)
        self.task.result = {**self.task.result, f"part{k}": k}
        self.task.save()
        self._decided(k, house, owner, wyf_bill, wx_pay)
        # Staff, tokens, and a whole community (seen by the manager) with a bill paid.
        clerk = staff_user(f"clerk{k}", StaffRole.CASHIER, [a])
        CashClose.create(operator=clerk, community=a, business_date=self.day - dt.timedelta(days=k),
                         totals={"cash": 100}, count=1, total_fen=100)
        tokens.issue_token(clerk.id, f"erp-{k}", Actor.staff(self.boss))
        tokens.issue_token(self.manager.id, f"mgr-{k}", Actor.staff(self.boss))
        other = f.community(f"新小区{k}", f"N{k}")
        StaffCommunity.create(staff=self.manager, community=other)
        StaffCommunity.create(staff=self.cashier, community=other)
        item = f.fee_item(other, "WYF", "物业费")
        f.standard(item, Method.FIXED, "100")
        f.standard(self.wyf, Method.PER_AREA, "2.6000", version=100 + k, status="draft",
                   effective_from=dt.date(2030, 1, 1) + dt.timedelta(days=k))
        other_bill = f.bill(f.house(other), item, period="2026-01", amount_fen=10_000)
        pay = f.payment(other, 10_000)
        Allocation.create(payment=pay, bill=other_bill, amount_fen=10_000)

    def _decided(self, k: int, house, owner, bill, wx_pay) -> None:
        """Records past their first state, whose pages show who decided them."""
        now = utcnow()
        Adjustment.create(bill=bill, kind=AdjustmentKind.WAIVER, amount_fen=-500, reason="驳回的减免",
                          status=AdjustmentStatus.REJECTED, requested_by=self.cashier,
                          decided_by=self.manager, decided_at=now, decision_note="不符合")
        Refund.create(payment=wx_pay, bill=bill, out_refund_no=f"RQC-S-{k}", amount_fen=100, reason="多缴",
                      status=RefundStatus.SUCCESS, requested_by=self.cashier, approved_by=self.manager,
                      refund_id=f"WXR{k}", succeeded_at=now)
        closed = Owner.create(openid=f"o-qc-r{k}", nickname=f"已结{k}")
        Binding.create(owner=closed, house=house, verified_by="code")
        Dispute.create(bill=bill, owner=closed, reason=DisputeReason.AMOUNT, text="已解决", status="resolved",
                       resolution="已核实", resolved_by=self.manager, closed_at=now)
        BindingCode.create(house=self.house, role="family", code_hash=f"qc-used-{k}", used_at=now,
                           used_by=closed, expires_at=now + dt.timedelta(days=7), created_by=self.manager)
        Alert.create(kind="test", message=f"已确认{k}", community_id=self.a.id, acknowledged_at=now,
                     acknowledged_by="boss")
        ReconciliationItem.create(run=self.recon, kind="missing_remote", reference=f"TXQCR{k}",
                                  out_trade_no=f"QCWX{k}", local_fen=5_000, resolved_at=now,
                                  resolved_by="boss", note="已核实")
        AdminTask.create(kind="import_houses", label=f"导入{k}", status=TaskStatus.FAILED, community_id=None,
                         staff_id=self.boss.id, created_by="boss", error="坏行", finished_at=now)
        AdminTask.create(kind="import", label=f"导入房屋{k}", status=TaskStatus.DONE, community_id=self.a.id,
                         staff_id=self.cashier.id, created_by="cashier", finished_at=now,
                         params={"kind": "houses"}, result={"created": k, "errors": []})
        big = f.bill(house, self.wyf, period="2026-04", amount_fen=2_000_000)
        offline.record_offline_payment(self.a.id, [(big.id, 2_000_000)], "bank_transfer", f"V-QC-BIG-{k}",
                                       f"大额{k}", self.cashier_actor, approval_threshold_fen=1_000_000)
        token, _ = tokens.issue_token(self.manager.id, f"old-{k}", Actor.staff(self.boss))
        tokens.revoke_token(token.id, Actor.staff(self.boss))
