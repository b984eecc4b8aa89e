"""Posting payments and refunds to bills: exact, never past the total, audited."""
from __future__ import annotations

import pytest

from server.audit import AuditLog
from server.billing.models import BillStatus
from server.errors import Conflict, ValidationError
from server.ledger.models import Allocation, Refund, RefundStatus
from server.ledger.posting import allocate_payment, apply_refund_success, status_for
from tests import factories as f


@pytest.fixture
def two_bills(database):
    estate = f.estate(1, water=False)
    house = estate.houses[0]
    return (estate.community, f.bill(house, estate.items["WYF"], amount_fen=10_000),
            f.bill(house, estate.items["TCF"], amount_fen=15_000))


def test_status_follows_the_numbers():
    assert status_for(100, 0, 0, 0, False) == BillStatus.UNPAID
    assert status_for(100, 0, 5, 100, False) == BillStatus.PARTIALLY_PAID
    assert status_for(100, 0, 5, 105, False) == BillStatus.PAID
    assert status_for(100, -100, 0, 0, False) == BillStatus.WAIVED
    assert status_for(100, -40, 0, 60, False) == BillStatus.PAID
    assert status_for(100, -100, 0, 0, True) == BillStatus.VOID


def test_a_payment_is_allocated_to_several_bills_and_their_status_moves(two_bills):
    comm, wyf, tcf = two_bills
    pay = f.payment(comm, 20_000)
    allocate_payment(pay, [(wyf.id, 10_000), (tcf.id, 10_000)], f.staff_actor())
    assert (f.reload(wyf).paid_fen, f.reload(wyf).status) == (10_000, BillStatus.PAID)
    assert (f.reload(tcf).paid_fen, f.reload(tcf).status) == (10_000, BillStatus.PARTIALLY_PAID)
    assert Allocation.select().count() == 2
    assert AuditLog.select().where(AuditLog.action == "bill.allocate").count() == 2


def test_paying_more_than_a_bill_asks_changes_nothing(two_bills):
    comm, wyf, tcf = two_bills
    pay = f.payment(comm, 30_000)
    with pytest.raises(Conflict) as caught:
        allocate_payment(pay, [(tcf.id, 5_000), (wyf.id, 10_001)], f.staff_actor())
    assert caught.value.code == "BILL_OVERPAID"
    assert (f.reload(wyf).paid_fen, f.reload(tcf).paid_fen) == (0, 0)
    assert Allocation.select().count() == 0


def test_a_payment_cannot_be_allocated_beyond_its_amount(two_bills):
    comm, wyf, tcf = two_bills
    pay = f.payment(comm, 12_000)
    allocate_payment(pay, [(wyf.id, 8_000)], f.staff_actor())
    with pytest.raises(Conflict) as caught:
        allocate_payment(pay, [(tcf.id, 4_001)], f.staff_actor())
    assert caught.value.code == "PAYMENT_OVER_ALLOCATED"


def test_the_same_payment_twice_on_a_bill_is_refused(two_bills):
    comm, wyf, _ = two_bills
    pay = f.payment(comm, 10_000)
    allocate_payment(pay, [(wyf.id, 1_000)], f.staff_actor())
    with pytest.raises(Conflict) as caught:
        allocate_payment(pay, [(wyf.id, 1_000)], f.staff_actor())
    assert caught.value.code == "ALREADY_ALLOCATED"
    assert f.reload(wyf).paid_fen == 1_000


def test_closed_bills_and_bad_amounts_are_refused(two_bills):
    comm, wyf, tcf = two_bills
    wyf.status = BillStatus.VOID
    wyf.save()
    pay = f.payment(comm, 10_000)
    with pytest.raises(Conflict):
        allocate_payment(pay, [(wyf.id, 100)], f.staff_actor())
    for bad in ([(tcf.id, 0)], [(tcf.id, -5)], [(tcf.id, 1), (tcf.id, 1)], []):
        with pytest.raises(ValidationError):
            allocate_payment(pay, bad, f.staff_actor())


def _refund(pay, bill, amount, status=RefundStatus.PROCESSING):
    return Refund.create(payment=pay, bill=bill, out_refund_no=f"R{pay.id}-{bill.id}-{amount}",
                         amount_fen=amount, reason="多收", status=status)


def test_a_successful_refund_is_taken_off_the_bill_exactly_once(two_bills):
    comm, wyf, _ = two_bills
    pay = f.payment(comm, 10_000)
    allocate_payment(pay, [(wyf.id, 10_000)], f.staff_actor())
    refund = _refund(pay, wyf, 3_000)
    assert apply_refund_success(refund, refund_id="503000") is True
    assert apply_refund_success(refund.id) is False
    reloaded = f.reload(wyf)
    assert (reloaded.paid_fen, reloaded.status) == (7_000, BillStatus.PARTIALLY_PAID)
    assert (f.reload(refund).status, f.reload(refund).refund_id) == (RefundStatus.SUCCESS, "503000")


def test_a_refund_larger_than_what_was_paid_is_refused(two_bills):
    comm, wyf, _ = two_bills
    pay = f.payment(comm, 10_000)
    allocate_payment(pay, [(wyf.id, 1_000)], f.staff_actor())
    refund = _refund(pay, wyf, 1_001)
    with pytest.raises(Conflict):
        apply_refund_success(refund)
    assert f.reload(refund).status == RefundStatus.PROCESSING
    assert f.reload(wyf).paid_fen == 1_000


def test_a_refund_not_in_flight_is_refused(two_bills):
    comm, wyf, _ = two_bills
    refund = _refund(f.payment(comm, 100), wyf, 100, status=RefundStatus.PENDING_APPROVAL)
    with pytest.raises(Conflict):
        apply_refund_success(refund)
