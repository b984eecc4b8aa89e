"""Adjustments: reason, sign, threshold, a second approver, void; the bill's
amount and basis are never edited."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.audit import AuditLog
from server.billing.adjustments import approve_adjustment, reject_adjustment, request_adjustment
from server.billing.models import AdjustmentKind, AdjustmentStatus, BillStatus
from server.errors import Conflict, Forbidden, ValidationError
from tests import factories as f

THRESHOLD = 5_000


@pytest.fixture
def bill(database):
    estate = f.estate(1, water=False, parking=False)
    return f.bill(estate.houses[0], estate.items["WYF"], amount_fen=10_000, late_fee_fen=300)


def basis(b):
    b = f.reload(b)
    return (b.amount_fen, b.quantity, b.unit, b.unit_price, b.standard_id, b.standard_version)


def test_a_small_waiver_is_approved_at_once_and_a_full_one_marks_the_bill_waived(bill):
    before = basis(bill)
    maker = f.staff_actor()
    first = request_adjustment(bill.id, AdjustmentKind.WAIVER, -300, "滞纳金减免", maker, THRESHOLD)
    assert first.status == AdjustmentStatus.APPROVED
    assert (f.reload(bill).adjusted_fen, f.reload(bill).status) == (-300, BillStatus.UNPAID)
    big = request_adjustment(bill.id, AdjustmentKind.WAIVER, -10_000, "困难户", maker, THRESHOLD)
    assert big.status == AdjustmentStatus.PENDING
    approve_adjustment(big.id, f.staff_actor())
    reloaded = f.reload(bill)
    assert (reloaded.adjusted_fen, reloaded.balance_fen, reloaded.status) == (-10_300, 0, BillStatus.WAIVED)
    assert basis(bill) == before


def test_at_the_threshold_a_second_staff_member_must_approve(bill):
    maker, checker = f.staff_actor(), f.staff_actor()
    pending = request_adjustment(bill.id, AdjustmentKind.DISCOUNT, -THRESHOLD, "老人优惠", maker,
                                 THRESHOLD)
    assert pending.status == AdjustmentStatus.PENDING
    assert f.reload(bill).adjusted_fen == 0
    with pytest.raises(Forbidden):
        approve_adjustment(pending.id, maker)
    approved = approve_adjustment(pending.id, checker)
    assert (approved.status, approved.decided_by_id) == (AdjustmentStatus.APPROVED, checker.staff_id)
    assert f.reload(bill).adjusted_fen == -THRESHOLD
    with pytest.raises(Conflict):
        approve_adjustment(pending.id, f.staff_actor())
    entry = AuditLog.get(AuditLog.action == "adjustment.discount")
    assert (entry.before["adjusted_fen"], entry.after["adjusted_fen"]) == (0, -THRESHOLD)


def test_a_rejected_adjustment_changes_nothing(bill):
    pending = request_adjustment(bill.id, AdjustmentKind.CORRECTION, 8_000, "面积录错", f.staff_actor(),
                                 THRESHOLD)
    reject_adjustment(pending.id, f.staff_actor(), "面积无误")
    assert f.reload(pending).status == AdjustmentStatus.REJECTED
    assert f.reload(bill).adjusted_fen == 0


def test_a_correction_may_raise_what_is_owed(bill):
    request_adjustment(bill.id, AdjustmentKind.CORRECTION, 1_200, "面积更正", f.staff_actor(), THRESHOLD)
    assert f.reload(bill).total_due_fen == 11_500


@pytest.mark.parametrize("kind, amount, reason, field", [
    (AdjustmentKind.WAIVER, 100, "x", "amount_fen"),
    (AdjustmentKind.DISCOUNT, 0, "x", "amount_fen"),
    (AdjustmentKind.WAIVER, -10_301, "x", "balance_fen"),
    (AdjustmentKind.CORRECTION, -10_301, "x", "balance_fen"),
    (AdjustmentKind.WAIVER, -100, "  ", "reason"),
    ("gift", -100, "x", "kind"),
])
def test_invalid_requests_are_refused(bill, kind, amount, reason, field):
    with pytest.raises(ValidationError) as caught:
        request_adjustment(bill.id, kind, amount, reason, f.staff_actor(), THRESHOLD)
    assert field in caught.value.details
    assert f.reload(bill).adjusted_fen == 0


def test_void_cancels_the_whole_remaining_total_of_an_unpaid_bill(bill):
    before = basis(bill)
    adj = request_adjustment(bill.id, AdjustmentKind.VOID, None, "重复开单", f.staff_actor(), 1)
    approve_adjustment(adj.id, f.staff_actor())
    reloaded = f.reload(bill)
    assert (adj.amount_fen, reloaded.status, reloaded.total_due_fen) == (-10_300, BillStatus.VOID, 0)
    assert basis(bill) == before
    with pytest.raises(Conflict):
        request_adjustment(bill.id, AdjustmentKind.CORRECTION, 100, "x", f.staff_actor(), THRESHOLD)


def test_a_bill_with_payments_cannot_be_voided(bill):
    bill.paid_fen, bill.status = 100, BillStatus.PARTIALLY_PAID
    bill.save()
    with pytest.raises(Conflict):
        request_adjustment(bill.id, AdjustmentKind.VOID, None, "重复开单", f.staff_actor(), THRESHOLD)


def test_a_pending_void_is_refused_when_the_bill_changed_before_approval(bill):
    adj = request_adjustment(bill.id, AdjustmentKind.VOID, None, "重复开单", f.staff_actor(), THRESHOLD)
    bill.late_fee_fen += 10  # a late fee accrued meanwhile
    bill.save()
    with pytest.raises(Conflict) as caught:
        approve_adjustment(adj.id, f.staff_actor())
    assert caught.value.code == "BILL_CHANGED"
    assert f.reload(bill).status == BillStatus.UNPAID


def test_a_system_actor_cannot_approve(bill):
    from server.audit import Actor

    adj = request_adjustment(bill.id, AdjustmentKind.WAIVER, -9_000, "x", f.staff_actor(), THRESHOLD)
    with pytest.raises(Forbidden):
        approve_adjustment(adj.id, Actor.system())


ops = st.lists(st.tuples(st.sampled_from([AdjustmentKind.WAIVER, AdjustmentKind.DISCOUNT,
                                          AdjustmentKind.CORRECTION]),
                         st.integers(min_value=-15_000, max_value=15_000), st.booleans()),
               min_size=1, max_size=8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_adjustments_never_make_the_balance_negative(database, steps):
    estate = f.estate(1, water=False, parking=False)
    b = f.bill(estate.houses[0], estate.items["WYF"], amount_fen=10_000, paid_fen=2_000,
               status=BillStatus.PARTIALLY_PAID)
    maker, checker = f.staff_actor(), f.staff_actor()
    pending = []
    for kind, amount, later in steps:
        try:
            adj = request_adjustment(b.id, kind, amount, "test", maker, 0 if later else 10**9)
            pending.append(adj)
        except ValidationError:
            pass
        assert f.reload(b).balance_fen >= 0
    for adj in pending:
        if adj.status == AdjustmentStatus.PENDING:
            try:
                approve_adjustment(adj.id, checker)
            except Conflict:
                pass
        assert f.reload(b).balance_fen >= 0
    assert f.reload(b).amount_fen == 10_000
    assert f.reload(b).quantity == Decimal(1)
