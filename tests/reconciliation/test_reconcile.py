"""Reconciliation against golden bills with injected differences of every kind (R12)."""
from __future__ import annotations

import datetime as dt

import pytest

from payments.models import OrderStatus
from server import outbox
from server.alerts import Alert, Severity
from server.audit import AuditLog
from server.errors import ValidationError
from server.ledger.models import Allocation, Payment, Refund
from server.reconciliation import service
from server.reconciliation.models import ItemKind, ReconciliationItem, ReconciliationRun, RunStatus
from tests import factories as f
from tests.reconciliation.golden import APPID, MCHID, GoldenBill, duplicate_row, replace_in_row

DAY = dt.date(2026, 3, 14)


def reconcile(golden: GoldenBill, edit=None) -> ReconciliationRun:
    return service.reconcile_file(golden.day, golden.stream(edit), mchid=MCHID, appid=APPID)


def items() -> set[tuple[str, str]]:
    return {(i.kind, i.reference) for i in ReconciliationItem.select()}


@pytest.fixture
def every_kind(database):
    """One clean payment and refund, and one of each difference."""
    g = GoldenBill(DAY)
    ok = g.paid(12_000, g.at(9))
    g.refund(ok, 3_000, g.at(15))                                      # equal on both sides
    case = {
        "missing_local": g.paid(5_000, g.at(11), local=False),         # the callback never came
        "missing_remote": g.paid(7_000, g.at(12), remote=False),
        "amount": g.paid(10_000, g.at(13), remote_fen=10_001),         # one fen
        "status": g.paid(6_000, g.at(14)),                             # REVOKED in the bill
    }
    extra = g.paid(9_000, g.at(10))
    case["refund_amount"] = g.refund(extra, 2_000, g.at(16), remote_fen=1_999)
    case["refund_missing_remote"] = g.refund(extra, 1_000, g.at(17), remote=False)
    g.paid(4_000, g.at(9, day=DAY - dt.timedelta(days=1)), remote=False)   # another day: not ours to judge
    g.edit = lambda data: replace_in_row(data, case["status"].transaction_id, "SUCCESS", "REVOKED")
    return g, case


def test_injected_differences_of_every_kind_are_found_exactly(every_kind):
    g, case = every_kind
    run = reconcile(g, g.edit)

    assert items() == {
        (ItemKind.MISSING_LOCAL, case["missing_local"].transaction_id),
        (ItemKind.MISSING_REMOTE, case["missing_remote"].transaction_id),
        (ItemKind.AMOUNT_MISMATCH, case["amount"].transaction_id),
        (ItemKind.STATUS_MISMATCH, case["status"].transaction_id),
        (ItemKind.REFUND_MISMATCH, case["refund_amount"]),
        (ItemKind.REFUND_MISMATCH, case["refund_missing_remote"]),
    }
    by_kind = {(i.kind, i.reference): i for i in ReconciliationItem.select()}
    amount = by_kind[(ItemKind.AMOUNT_MISMATCH, case["amount"].transaction_id)]
    assert (amount.remote_fen, amount.local_fen) == (10_001, 10_000)
    status = by_kind[(ItemKind.STATUS_MISMATCH, case["status"].transaction_id)]
    assert (status.remote_status, status.local_status) == ("REVOKED", OrderStatus.PAID)
    refund = by_kind[(ItemKind.REFUND_MISMATCH, case["refund_amount"])]
    assert (refund.remote_fen, refund.local_fen, refund.details["problem"]) == (1_999, 2_000, "amount")
    assert by_kind[(ItemKind.REFUND_MISMATCH, case["refund_missing_remote"])].details == \
        {"problem": "missing_remote"}
    assert run.status == RunStatus.DONE and run.summary_ok and run.differences == 6
    assert (run.remote_payments, run.remote_refunds) == (4, 2)           # REVOKED is not a payment
    assert (run.local_payments, run.local_refunds) == (6, 3)             # after crediting the missing one


def test_money_missing_here_is_credited_through_the_exactly_once_path(every_kind):
    g, case = every_kind
    reconcile(g, g.edit)
    order = case["missing_local"].order
    payment = Payment.get(Payment.order == order.id)
    assert (payment.amount_fen, payment.transaction_id) == (5_000, case["missing_local"].transaction_id)
    assert payment.received_at == g.at(11).astimezone(dt.timezone.utc)
    assert f.reload(order).status == OrderStatus.PAID
    assert Allocation.select().where(Allocation.payment == payment).count() == 1
    item = ReconciliationItem.get(ReconciliationItem.kind == ItemKind.MISSING_LOCAL)
    assert item.resolved_at is not None and item.resolved_by == "system"
    assert item.details["credit"] == "applied"
    assert outbox.OutboxMessage.get(outbox.OutboxMessage.dedupe_key == f"payment.credited:{payment.id}")
    kinds = {a.kind for a in Alert.select()}
    assert {"reconciliation_missing_local", "reconciliation_differences"} <= kinds
    assert "reconciliation_totals" not in kinds


def test_a_rerun_of_the_same_day_adds_nothing_and_changes_nothing(every_kind):
    g, _ = every_kind
    reconcile(g, g.edit)

    def state():
        return ([i.__data__ for i in ReconciliationItem.select().order_by(ReconciliationItem.id)],
                [p.__data__ for p in Payment.select().order_by(Payment.id)],
                Allocation.select().count(), Refund.select().count(), AuditLog.select().count(),
                [(a.kind, a.count) for a in Alert.select().order_by(Alert.id)],
                outbox.OutboxMessage.select().count())

    before = state()
    run = reconcile(g, g.edit)
    assert state() == before
    assert run.attempts == 2 and run.differences == 6


def test_a_summary_row_that_disagrees_with_the_rows_raises_the_totals_alert(every_kind):
    g, _ = every_kind

    def wrong_count(data: bytes) -> bytes:
        head, _, summary = g.edit(data).rstrip(b"\r\n").rpartition(b"\r\n")
        count, rest = summary.split(b",", 1)
        return head + b"\r\n" + b"`" + str(int(float(count[1:])) + 1).encode() + b".0," + rest + b"\r\n"

    run = reconcile(g, wrong_count)
    assert not run.summary_ok and run.summary["rows"] == run.remote_rows + 1
    alert = Alert.get(Alert.kind == "reconciliation_totals")
    assert alert.severity == Severity.CRITICAL and str(DAY) in alert.message


def test_a_payment_wechat_lists_twice_is_a_difference(database):
    g = GoldenBill(DAY)
    twice = g.paid(3_300, g.at(8))
    g.paid(1_000, g.at(9))
    run = reconcile(g, lambda data: duplicate_row(data, twice.transaction_id))
    item = ReconciliationItem.get()
    assert (item.kind, item.reference) == (ItemKind.AMOUNT_MISMATCH, twice.transaction_id)
    assert item.details == {"problem": "listed_again", "times": 2} and item.remote_fen == 6_600
    assert not run.summary_ok                   # the summary counted the row once
    assert Payment.select().count() == 2


def test_a_clean_day_has_no_items_and_no_alerts(database):
    g = GoldenBill(DAY)
    paid = g.paid(12_000, g.at(9))
    g.refund(paid, 12_000, g.at(18))
    run = reconcile(g)
    assert run.differences == 0 and run.summary_ok and items() == set()
    assert (run.remote_payment_fen, run.local_payment_fen) == (12_000, 12_000)
    assert (run.remote_refund_fen, run.local_refund_fen) == (12_000, 12_000)
    assert Alert.select().count() == 0


def test_staff_resolve_an_item_once_with_a_note(every_kind):
    g, case = every_kind
    reconcile(g, g.edit)
    item = ReconciliationItem.get(ReconciliationItem.kind == ItemKind.MISSING_REMOTE)
    actor = f.staff_actor("cashier1")
    with pytest.raises(ValidationError):
        service.resolve_item(item.id, actor, "  ")
    resolved = service.resolve_item(item.id, actor, "微信侧次日入账，已核实")
    again = service.resolve_item(item.id, f.staff_actor("other"), "second note")
    assert (resolved.resolved_by, resolved.note) == ("cashier1", "微信侧次日入账，已核实")
    assert (again.resolved_by, again.note) == ("cashier1", resolved.note)
    assert again.resolved_at == resolved.resolved_at
    assert AuditLog.select().where(AuditLog.action == "reconciliation.resolve").count() == 1


def test_only_bills_of_the_last_three_months_up_to_yesterday_are_asked_for(database):
    today = dt.date(2026, 3, 15)
    for day in (today, today + dt.timedelta(days=1), today - dt.timedelta(days=91)):
        with pytest.raises(ValidationError):
            service.check_date(day, today)
    service.check_date(today - dt.timedelta(days=90), today)
    assert service.dates_to_reconcile(today) == [dt.date(2026, 3, 14)]
    ReconciliationRun.create(bill_date=dt.date(2026, 3, 11), status=RunStatus.DONE)
    ReconciliationRun.create(bill_date=dt.date(2026, 3, 12), status=RunStatus.FAILED)
    assert service.dates_to_reconcile(today) == [dt.date(2026, 3, 12), dt.date(2026, 3, 13),
                                                 dt.date(2026, 3, 14)]


def test_difference_alerts_name_the_kinds_in_chinese_and_belong_to_the_orders_community(every_kind):
    g, case = every_kind
    reconcile(g, g.edit)
    alerts = list(Alert.select().where(Alert.kind == "reconciliation_differences"))
    community_id = case["amount"].order.community_id
    placed = [a for a in alerts if a.community_id == community_id]
    assert len(placed) == 1, [(a.community_id, a.message) for a in alerts]
    assert "金额不符 1 笔" in placed[0].message and "状态不符 1 笔" in placed[0].message
    assert "amount_mismatch" not in placed[0].message
    # The money WeChat took that we had not recorded was credited: not open any more.
    assert "本地缺失" not in placed[0].message
