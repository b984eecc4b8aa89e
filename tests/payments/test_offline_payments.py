"""Offline payments: voucher numbers, second approval, daily cash close, refunds at the counter."""
from __future__ import annotations

import datetime as dt

import pytest

from payments import offline, refunds
from payments.models import Channel, OrderStatus
from server.audit import Actor, AuditLog
from server.billing.models import BillStatus
from server.errors import Conflict, Forbidden, ValidationError
from server.ledger.models import Payment, RefundStatus
from tests import factories as f

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def setup(database):
    comm = f.community()
    house = f.house(comm)
    item = f.fee_item(comm, "property", "物业费")
    first = f.bill(house, item, period="2026-01", amount_fen=30_000)
    second = f.bill(house, item, period="2026-02", amount_fen=30_000)
    cashier, manager = f.staff("cashier"), f.staff("manager")
    return comm, first, second, Actor.staff(cashier), Actor.staff(manager)


def test_small_cash_payment_is_booked_at_once_with_a_receipt(setup):
    comm, first, second, cashier, _ = setup
    order = offline.record_offline_payment(comm.id, [(first.id, 30_000), (second.id, 10_000)], Channel.CASH,
                                           "XJ-0001", "张三", cashier, approval_threshold_fen=100_000,
                                           received_on=DAY)
    assert order.status == OrderStatus.PAID
    payment = Payment.get(Payment.order == order.id)
    assert payment.amount_fen == 40_000 and payment.receipt_no.startswith(f"{comm.code}2026")
    assert f.reload(first).status == BillStatus.PAID
    assert f.reload(second).paid_fen == 10_000 and f.reload(second).status == BillStatus.PARTIALLY_PAID
    assert AuditLog.select().where(AuditLog.action == "offline_payment.book").count() == 1


def test_large_payment_waits_for_a_second_staff_member(setup):
    comm, first, _, cashier, manager = setup
    order = offline.record_offline_payment(comm.id, [(first.id, 30_000)], Channel.BANK_TRANSFER, "TR-9",
                                           "李四", cashier, approval_threshold_fen=20_000, received_on=DAY)
    assert order.status == OrderStatus.CREATED and f.reload(first).paid_fen == 0
    with pytest.raises(Forbidden):
        offline.approve_offline_payment(order.id, cashier)
    approved = offline.approve_offline_payment(order.id, manager)
    assert approved.status == OrderStatus.PAID and f.reload(first).status == BillStatus.PAID
    assert offline.approve_offline_payment(order.id, manager).status == OrderStatus.PAID  # idempotent
    assert Payment.select().count() == 1


def test_voucher_numbers_are_unique_and_a_reuse_changes_nothing(setup):
    comm, first, second, cashier, _ = setup
    offline.record_offline_payment(comm.id, [(first.id, 100)], Channel.POS, "POS-1", "", cashier,
                                   approval_threshold_fen=10**9, received_on=DAY)
    with pytest.raises(Conflict) as exc:
        offline.record_offline_payment(comm.id, [(second.id, 100)], Channel.POS, "POS-1", "", cashier,
                                       approval_threshold_fen=10**9, received_on=DAY)
    assert exc.value.code == "VOUCHER_USED"
    assert f.reload(second).paid_fen == 0


def test_paying_more_than_the_balance_or_a_paid_bill_is_refused(setup):
    comm, first, _, cashier, _ = setup
    with pytest.raises(ValidationError):
        offline.record_offline_payment(comm.id, [(first.id, 30_001)], Channel.CASH, "X1", "", cashier,
                                       approval_threshold_fen=10**9)
    offline.record_offline_payment(comm.id, [(first.id, 30_000)], Channel.CASH, "X2", "", cashier,
                                   approval_threshold_fen=10**9)
    with pytest.raises(ValidationError):
        offline.record_offline_payment(comm.id, [(first.id, 1)], Channel.CASH, "X3", "", cashier,
                                       approval_threshold_fen=10**9)


def test_daily_close_totals_by_channel_and_locks_the_day(setup):
    comm, first, second, cashier, _ = setup
    offline.record_offline_payment(comm.id, [(first.id, 30_000)], Channel.CASH, "C1", "", cashier,
                                   approval_threshold_fen=10**9, received_on=DAY)
    offline.record_offline_payment(comm.id, [(second.id, 5_000)], Channel.POS, "P1", "", cashier,
                                   approval_threshold_fen=10**9, received_on=DAY)
    close = offline.close_cash_day(cashier.staff_id, comm.id, DAY, cashier)
    assert close.totals == {"cash": 30_000, "pos": 5_000} and close.total_fen == 35_000 and close.count == 2
    with pytest.raises(Conflict) as exc:
        offline.record_offline_payment(comm.id, [(second.id, 1_000)], Channel.CASH, "C2", "", cashier,
                                       approval_threshold_fen=10**9, received_on=DAY)
    assert exc.value.code == "CASH_DAY_CLOSED"
    with pytest.raises(Conflict):
        offline.close_cash_day(cashier.staff_id, comm.id, DAY, cashier)


def test_daily_close_waits_for_pending_approvals(setup):
    comm, first, _, cashier, _ = setup
    offline.record_offline_payment(comm.id, [(first.id, 30_000)], Channel.CASH, "C9", "", cashier,
                                   approval_threshold_fen=1, received_on=DAY)
    with pytest.raises(Conflict) as exc:
        offline.close_cash_day(cashier.staff_id, comm.id, DAY, cashier)
    assert exc.value.code == "PENDING_APPROVALS"


def test_counter_refund_needs_approval_and_never_exceeds_what_was_paid(setup):
    comm, first, _, cashier, manager = setup
    order = offline.record_offline_payment(comm.id, [(first.id, 30_000)], Channel.CASH, "R1", "", cashier,
                                           approval_threshold_fen=10**9, received_on=DAY)
    payment = Payment.get(Payment.order == order.id)
    with pytest.raises(Conflict):
        refunds.request_refund(payment.id, first.id, 30_001, "多收", cashier, request_key="k0")
    refund = refunds.request_refund(payment.id, first.id, 20_000, "多收", cashier, request_key="k1")
    assert refunds.request_refund(payment.id, first.id, 20_000, "多收", cashier, request_key="k1").id == refund.id
    with pytest.raises(Conflict):  # 20,000 is reserved: only 10,000 is left
        refunds.request_refund(payment.id, first.id, 10_001, "多收", cashier, request_key="k2")
    with pytest.raises(Forbidden):
        refunds.approve_refund(refund.id, cashier)
    done = refunds.approve_refund(refund.id, manager)
    assert done.status == RefundStatus.SUCCESS
    bill = f.reload(first)
    assert bill.paid_fen == 10_000 and bill.status == BillStatus.PARTIALLY_PAID
    assert f.reload(order).status == OrderStatus.PARTIALLY_REFUNDED


def test_rejected_refund_frees_its_reservation(setup):
    comm, first, _, cashier, manager = setup
    order = offline.record_offline_payment(comm.id, [(first.id, 30_000)], Channel.CASH, "R2", "", cashier,
                                           approval_threshold_fen=10**9, received_on=DAY)
    payment = Payment.get(Payment.order == order.id)
    refund = refunds.request_refund(payment.id, first.id, 30_000, "误收", cashier, request_key="a")
    refunds.reject_refund(refund.id, manager, "无需退款")
    again = refunds.request_refund(payment.id, first.id, 30_000, "误收", cashier, request_key="b")
    assert again.status == RefundStatus.PENDING_APPROVAL
