"""A Hypothesis state machine over the order lifecycle, ledger invariants after every step (R5, R6, R13).

Fast in-process path: the sandbox's own ledger plays WeChat (no HTTP, no
signatures: those are covered by the end-to-end tests), and callbacks are
delivered by calling ``credit_wechat_transaction`` / ``apply_refund_result``
with WeChat's transaction and refund objects — exactly what the endpoint calls
after verification.  Duplicated, reordered and late deliveries, queries,
closes, cancels and refunds interleave freely.
"""
from __future__ import annotations

import datetime as dt
import itertools
import sqlite3

import peewee as pw
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition, rule,
                                 run_state_machine_as_test)

from payments import exceptions as wx
from payments import refunds
from payments.client import format_time_expire
from payments.models import OrderBill, OrderStatus, PaymentOrder
from payments.orders import create_order
from payments.sandbox import PayFailed, SandboxApiError, SandboxState
from payments.service import cancel_order, close_order, start_payment, sync_order
from payments.settlement import Outcome, credit_wechat_transaction
from server import db as dbmod
from server.billing.models import Bill
from server.errors import DomainError
from server.ledger.check import check_ledger
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.property.models import Binding, Owner
from tests import factories as f

AMOUNTS = (10_000, 3_500, 800, 12_345)
PAID_STATES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
EXPECTED = (DomainError, wx.WeChatPayError, PayFailed)      # refusals the rules may meet
_databases = itertools.count()


class InProcessWeChat:
    """Our client's interface, answered by the sandbox's ledger in this process."""

    def __init__(self, state: SandboxState):
        self.state, self.ledger = state, state.ledger
        self.mchid, self.appid = state.mchid, state.appid

    @staticmethod
    def _call(fn):
        try:
            return fn()
        except SandboxApiError as exc:      # WeChat's error → our typed exception, as the client does
            raise wx.error_class_for(exc.code, exc.status)(exc.message, code=exc.code, status=exc.status)

    def jsapi_prepay(self, out_trade_no, description, total_fen, openid, time_expire, attach=""):
        body = {"appid": self.appid, "mchid": self.mchid, "description": description,
                "out_trade_no": out_trade_no, "time_expire": format_time_expire(time_expire),
                "notify_url": "https://wuyepay.test/notify", "payer": {"openid": openid},
                "amount": {"total": total_fen, "currency": "CNY"}}
        return self._call(lambda: self.ledger.prepay(body)).prepay_id

    def mini_program_pay_params(self, prepay_id):
        return {"package": f"prepay_id={prepay_id}"}

    def query_by_out_trade_no(self, out_trade_no):
        return self._call(lambda: self.ledger.transaction(self.ledger.get(out_trade_no)))

    def close(self, out_trade_no):
        self._call(lambda: self.ledger.close(out_trade_no))

    def refund(self, out_refund_no, amount_fen, total_fen, reason, transaction_id=None, out_trade_no=None,
               notify_url=None):
        body = {"out_refund_no": out_refund_no, "transaction_id": transaction_id, "reason": reason,
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"}}
        return self._call(lambda: self.ledger.refund_object(self.ledger.refund(body)))

    def query_refund(self, out_refund_no):
        return self._call(lambda: self.ledger.refund_object(self.ledger.get_refund(out_refund_no)))


class OrderMachine(RuleBasedStateMachine):
    def __init__(self, template, folder, keys):
        super().__init__()
        path = folder / f"machine-{next(_databases)}.db"
        src, dst = sqlite3.connect(template), sqlite3.connect(path)
        src.backup(dst)
        src.close()
        dst.close()
        self.db = dbmod.bind(f"sqlite:///{path}")
        # A fresh WeChat per example: refund numbers are deterministic per database.
        state = SandboxState(platform_key=keys[0], public_key=keys[1], refund_delay=-1)
        state.set_faults(drop_callbacks=-1)      # callbacks are delivered by the rules below
        self.wx = InProcessWeChat(state)
        comm = f.community()
        house = f.house(comm)
        item = f.fee_item(comm, "WYF", "物业费")
        self.bill_ids = [f.bill(house, item, period=f"2025-{i + 1:02d}", amount_fen=a).id
                         for i, a in enumerate(AMOUNTS)]
        self.owner = Owner.create(openid=f"o{next(_databases):027d}")
        Binding.create(owner=self.owner, house=house, verified_by="staff")
        self.clerk, self.approver = f.staff_actor(), f.staff_actor()
        self.order_ids: list[int] = []
        self.prepays: dict[int, str] = {}
        self.delivered: set[str] = set()          # transaction ids WeChat told us were paid
        self.last_status: dict[int, str] = {}

    def teardown(self):
        self.db.close()
        self.wx.state.close()

    # ------------------------------------------------------------- helpers
    def _order(self, back: int) -> PaymentOrder:
        """The ``back``-th most recent order (recent ones are the interesting ones)."""
        return PaymentOrder.get_by_id(self.order_ids[-1 - back % len(self.order_ids)])

    def _at_wechat(self, order):
        return self.wx.ledger.orders.get(order.out_trade_no)

    def _credit(self, txn: dict):
        return credit_wechat_transaction(txn, mchid=self.wx.mchid, appid=self.wx.appid, source="notify")

    def _deliver(self, txn: dict, copies: int) -> None:
        for _ in range(copies):
            assert self._credit(txn).outcome in (Outcome.APPLIED, Outcome.ALREADY_APPLIED)
        self.delivered.add(txn["transaction_id"])

    def _refund(self, pick: int) -> Refund:
        rows = list(Refund.select().order_by(Refund.id.desc()))
        return rows[pick % len(rows)]

    # --------------------------------------------------------------- rules
    @rule(picks=st.lists(st.integers(0, len(AMOUNTS) - 1), min_size=1, max_size=3, unique=True),
          key=st.sampled_from([None, "k1", "k2"]))
    def create(self, picks, key):
        try:
            order, _ = create_order(self.owner.id, [self.bill_ids[i] for i in picks], key)
        except EXPECTED:
            return
        if order.id not in self.order_ids:
            self.order_ids.append(order.id)

    @precondition(lambda self: self.order_ids)
    @rule(back=st.integers(0, 3), force=st.booleans(),
          outcome=st.sampled_from(["success", "success", "success", "payerror", None]))
    def owner_pays(self, back, outcome, force):
        """Prepay (once; repeats are safe) and maybe pay at the cashier."""
        order = self._order(back)
        if order.id not in self.prepays:
            try:
                params = start_payment(order, self.wx, self.owner.openid)
            except EXPECTED:
                return
            self.prepays[order.id] = params["package"].removeprefix("prepay_id=")
        if outcome:
            try:
                self.wx.ledger.pay(self.prepays[order.id], outcome, force=force)
            except PayFailed:
                pass

    @precondition(lambda self: self.order_ids)
    @rule(back=st.integers(0, 3), copies=st.integers(1, 3), wrong_amount_first=st.booleans())
    def deliver_success(self, back, copies, wrong_amount_first):
        remote = self._at_wechat(self._order(back))
        if remote is None or not remote.transaction_id:
            return
        txn = self.wx.ledger.transaction(remote)
        if wrong_amount_first:                    # R4: alerted, never applied
            wrong = {**txn, "amount": {**txn["amount"], "total": txn["amount"]["total"] + 1}}
            result = self._credit(wrong)
            assert result.outcome is Outcome.REJECTED or result.outcome is Outcome.ALREADY_APPLIED
        self._deliver(txn, copies)

    @precondition(lambda self: self.prepays)
    @rule(back=st.integers(0, 3), copies=st.integers(1, 2))
    def late_success_after_close(self, back, copies):
        order = self._order(back)
        if order.status != OrderStatus.CLOSED or order.id not in self.prepays:
            return
        try:
            self.wx.ledger.pay(self.prepays[order.id], force=True)
        except PayFailed:
            return
        self._deliver(self.wx.ledger.transaction(self._at_wechat(order)), copies)

    @precondition(lambda self: self.order_ids)
    @rule(back=st.integers(0, 3))
    def query(self, back):
        order = self._order(back)
        remote = self._at_wechat(order)
        paid_at_wechat = remote is not None and remote.trade_state in ("SUCCESS", "REFUND")
        try:
            sync_order(order, self.wx)
        except EXPECTED:
            return
        if paid_at_wechat:
            self.delivered.add(remote.transaction_id)

    @precondition(lambda self: self.order_ids)
    @rule(back=st.integers(0, 3), how=st.sampled_from(["cancel", "close too early", "close expired"]))
    def give_up(self, back, how):
        order = self._order(back)
        try:
            if how == "cancel":
                cancel_order(order, self.wx)
            else:
                minutes = 16 if how == "close expired" else 1
                now = order.created_at + dt.timedelta(minutes=minutes)
                close_order(order, self.wx, reason="expired", now=now)
        except EXPECTED:
            pass

    @precondition(lambda self: Payment.select().exists())
    @rule(pick=st.integers(0, 50), line=st.integers(0, 3), thirds=st.integers(1, 4),
          key=st.sampled_from(["form-1", "form-2", "form-3"]), approve=st.booleans())
    def request_refund(self, pick, line, thirds, key, approve):
        """A third, two thirds, all or 4/3 of what the payment gave one of its bills."""
        payments = list(Payment.select().order_by(Payment.id))
        payment = payments[pick % len(payments)]
        allocations = list(Allocation.select().where(Allocation.payment == payment).order_by(Allocation.id))
        if not allocations:
            return
        allocation = allocations[line % len(allocations)]
        amount = max(1, allocation.amount_fen * thirds // 3)
        try:
            refund = refunds.request_refund(payment.id, allocation.bill_id, amount, "退款", self.clerk,
                                            request_key=key)
            if approve:
                refunds.approve_refund(refund.id, self.approver, self.wx)
        except EXPECTED:
            pass

    @precondition(lambda self: Refund.select().exists())
    @rule(pick=st.integers(0, 50))
    def approve_refund(self, pick):
        try:
            refunds.approve_refund(self._refund(pick).id, self.approver, self.wx)
        except EXPECTED:
            pass

    @precondition(lambda self: Refund.select().exists())
    @rule(pick=st.integers(0, 50), status=st.sampled_from(["SUCCESS", "SUCCESS", "ABNORMAL", "CLOSED"]),
          copies=st.integers(1, 3), via_query=st.booleans())
    def refund_result(self, pick, status, copies, via_query):
        refund = self._refund(pick)
        if refund.out_refund_no not in self.wx.ledger.refunds:
            return
        remote = self.wx.ledger.settle_refund(refund.out_refund_no, status)
        if via_query:
            refunds.sync_refund(refund, self.wx)
            return
        for _ in range(copies):                  # the REFUND.* callback, duplicated
            refunds.apply_refund_result(self.wx.ledger.refund_notification(remote), source="notify",
                                        mchid=self.wx.mchid)

    # ---------------------------------------------------------- invariants
    @invariant()
    def bills_are_sums_of_their_ledger_rows(self):
        allocated = dict(Allocation.select(Allocation.bill, pw.fn.SUM(Allocation.amount_fen))
                         .group_by(Allocation.bill).tuples())
        refunded = dict(Refund.select(Refund.bill, pw.fn.SUM(Refund.amount_fen))
                        .where(Refund.status == RefundStatus.SUCCESS).group_by(Refund.bill).tuples())
        for bill in Bill.select():
            assert bill.paid_fen == allocated.get(bill.id, 0) - refunded.get(bill.id, 0)
            assert 0 <= bill.paid_fen <= bill.total_due_fen
        assert check_ledger() == []               # and each bill's status follows its numbers

    @invariant()
    def each_transaction_is_credited_once_and_none_is_lost(self):
        payments = list(Payment.select(Payment.order, Payment.transaction_id).tuples())
        assert len({txn for _, txn in payments}) == len({order for order, _ in payments}) == len(payments)
        assert self.delivered <= {txn for _, txn in payments}, "a payment WeChat reported has no Payment row"

    @invariant()
    def paid_orders_only_move_towards_refunds(self):
        paid_orders = {order for order, in Payment.select(Payment.order).tuples()}
        for order_id, status in PaymentOrder.select(PaymentOrder.id, PaymentOrder.status).tuples():
            if self.last_status.get(order_id) in PAID_STATES:
                assert status in PAID_STATES, f"{self.last_status[order_id]} → {status}"
            assert (order_id in paid_orders) == (status in PAID_STATES)
            self.last_status[order_id] = status

    @invariant()
    def only_open_orders_hold_bills_and_refunds_stay_within_allocations(self):
        holders = (PaymentOrder.select(PaymentOrder.status).join(OrderBill)
                   .where(OrderBill.open_bill.is_null(False)).tuples())
        assert all(status in OrderStatus.OPEN for status, in holders)
        reserved = dict(((p, b), total) for p, b, total in
                        Refund.select(Refund.payment, Refund.bill, pw.fn.SUM(Refund.amount_fen))
                        .where(Refund.status.in_(RefundStatus.RESERVED))
                        .group_by(Refund.payment, Refund.bill).tuples())
        allocations = {(p, b): amount for p, b, amount in
                       Allocation.select(Allocation.payment, Allocation.bill, Allocation.amount_fen).tuples()}
        for key, total in reserved.items():
            assert total <= allocations.get(key, 0)


def test_order_lifecycle_keeps_the_ledger_invariants(sqlite_template, tmp_path, key_pool):
    run_state_machine_as_test(
        lambda: OrderMachine(sqlite_template, tmp_path, key_pool),
        settings=settings(max_examples=30, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]))
