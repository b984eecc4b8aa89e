"""Refunds over real HTTP: never more than paid, one refund per request, callbacks applied once (R14)."""
from __future__ import annotations

import pytest

from payments import refunds
from payments.models import NotifyEvent, OrderStatus
from server.alerts import Alert
from server.audit import AuditLog
from server.billing.models import BillStatus
from server.errors import Conflict, Forbidden
from server.ledger.check import check_ledger
from server.ledger.models import Payment, Refund, RefundStatus
from tests.payments.live import (callback_headers, envelope_for, events_settled, order_status,
                                 owner_with_bills, prepaid, reload, run_together, wait_for_status,
                                 wait_until)

REFUNDS_PATH = "/v3/refund/domestic/refunds"


def _paid(live, amounts=(12_000, 3_500)):
    bills = owner_with_bills(amounts)
    order, prepay_id = prepaid(live, bills)
    live.state.ledger.pay(prepay_id)
    assert wait_for_status(order, OrderStatus.PAID) and wait_until(events_settled)
    return bills, order, Payment.get(Payment.order == order.id)


def _refund_deliveries(live) -> list[dict]:
    return [d for d in live.state.notifier.deliveries if d["event_type"] == "REFUND.SUCCESS"]


def _refund_status(refund) -> str:
    return Refund.select(Refund.status).where(Refund.id == refund.id).scalar()


def test_a_refund_beyond_what_the_bill_received_is_rejected(live):
    bills, _, payment = _paid(live)
    bill = bills.bills[0]

    with pytest.raises(Conflict) as exceeded:
        refunds.request_refund(payment.id, bill.id, 12_001, "多收", bills.staff, request_key="r1")
    assert exceeded.value.code == "REFUND_EXCEEDS_PAID"
    assert exceeded.value.details == {"refundable_fen": 12_000, "requested_fen": 12_001}

    refunds.request_refund(payment.id, bill.id, 8_000, "多收", bills.staff, request_key="r2")
    with pytest.raises(Conflict):                                   # only 4,000 are left
        refunds.request_refund(payment.id, bill.id, 4_001, "多收", bills.staff, request_key="r3")
    assert Refund.select().count() == 1 and live.state.count_requests(REFUNDS_PATH) == 0


def test_an_approved_refund_is_sent_once_and_settled_by_its_callback(live):
    bills, order, payment = _paid(live)
    bill = bills.bills[0]
    refund = refunds.request_refund(payment.id, bill.id, 5_000, "重复缴费", bills.staff, request_key="r1")
    with pytest.raises(Forbidden):
        refunds.approve_refund(refund.id, bills.staff, live.client)      # not by the requester

    refunds.approve_refund(refund.id, bills.approver, live.client)

    assert wait_until(lambda: _refund_status(refund) == RefundStatus.SUCCESS)
    assert wait_until(lambda: events_settled(2))
    assert live.state.count_requests(REFUNDS_PATH) == 1
    bill = reload(bill)
    assert (bill.paid_fen, bill.status) == (7_000, BillStatus.PARTIALLY_PAID)
    assert order_status(order) == OrderStatus.PARTIALLY_REFUNDED
    assert reload(refund).refund_id == live.state.ledger.get_refund(refund.out_refund_no).refund_id
    assert check_ledger() == []


def test_a_duplicated_refund_success_callback_moves_the_ledger_once(live):
    bills, order, payment = _paid(live, (6_000,))
    refund = refunds.request_refund(payment.id, bills.ids[0], 6_000, "退房", bills.staff, request_key="r1")
    live.state.set_faults(duplicate_callbacks=5)

    refunds.approve_refund(refund.id, bills.approver, live.client)
    assert wait_until(lambda: len(_refund_deliveries(live)) == 5 and events_settled(2))
    plaintext = live.state.ledger.refund_notification(live.state.ledger.get_refund(refund.out_refund_no))
    body = envelope_for(live.state, "REFUND.SUCCESS", plaintext)          # and a redelivery, new id
    assert live.post_callback(body, callback_headers(live.state, body)).status_code == 204

    assert wait_until(lambda: events_settled(3))
    assert [d["status"] for d in _refund_deliveries(live)] == [204] * 5
    assert AuditLog.select().where(AuditLog.action == "bill.refund").count() == 1
    bill = reload(bills.bills[0])
    assert (bill.paid_fen, bill.status) == (0, BillStatus.UNPAID)
    assert order_status(order) == OrderStatus.REFUNDED
    statuses = [e.status for e in NotifyEvent.select().where(NotifyEvent.event_type == "REFUND.SUCCESS")]
    # The refund API's own answer may already say SUCCESS and be applied first.
    assert len(statuses) == 2 and set(statuses) <= {"applied", "already_applied"}
    assert statuses.count("applied") <= 1
    assert check_ledger() == []


def test_an_abnormal_refund_raises_an_alert_and_keeps_the_money_on_the_bill(live):
    bills, order, payment = _paid(live)
    live.state.refund_outcome = "ABNORMAL"          # e.g. the payer's bank card was cancelled
    refund = refunds.request_refund(payment.id, bills.ids[0], 2_000, "退款", bills.staff, request_key="r1")

    refunds.approve_refund(refund.id, bills.approver, live.client)

    assert wait_until(lambda: _refund_status(refund) == RefundStatus.ABNORMAL and events_settled(2))
    alert = Alert.get(Alert.kind == "refund_abnormal")
    assert refund.out_refund_no in alert.message
    assert reload(bills.bills[0]).paid_fen == 12_000 and order_status(order) == OrderStatus.PAID
    assert check_ledger() == []


def test_a_double_clicked_refund_reaches_wechat_once(live):
    bills, _, payment = _paid(live)

    def click():
        refund = refunds.request_refund(payment.id, bills.ids[0], 12_000, "误缴", bills.staff,
                                        request_key="form-token-1")
        return refunds.approve_refund(refund.id, bills.approver, live.client).id

    results = run_together([click, click])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1 and Refund.select().count() == 1
    assert live.state.count_requests(REFUNDS_PATH) == 1 and len(live.state.ledger.refunds) == 1
    assert wait_until(lambda: _refund_status(Refund.get()) == RefundStatus.SUCCESS)
    assert reload(bills.bills[0]).paid_fen == 0


def test_two_approvals_racing_send_the_refund_once(live):
    bills, _, payment = _paid(live)
    refund = refunds.request_refund(payment.id, bills.ids[1], 3_500, "误缴", bills.staff, request_key="r1")

    results = run_together([lambda: refunds.approve_refund(refund.id, bills.approver, live.client),
                            lambda: refunds.approve_refund(refund.id, bills.approver, live.client)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert live.state.count_requests(REFUNDS_PATH) == 1 and len(live.state.ledger.refunds) == 1
    assert wait_until(lambda: _refund_status(refund) == RefundStatus.SUCCESS)
    assert reload(bills.bills[1]).paid_fen == 0 and check_ledger() == []


def test_a_refund_callback_with_another_amount_is_alerted_and_not_applied(live):
    bills, order, payment = _paid(live)
    live.state.refund_delay = -1                     # WeChat has not settled it yet
    refund = refunds.request_refund(payment.id, bills.ids[0], 2_000, "退款", bills.staff, request_key="r1")
    refunds.approve_refund(refund.id, bills.approver, live.client)
    at_wechat = live.state.ledger.get_refund(refund.out_refund_no)
    plaintext = {**live.state.ledger.refund_notification(at_wechat), "refund_status": "SUCCESS"}
    plaintext["amount"] = {**plaintext["amount"], "refund": 2_001}
    body = envelope_for(live.state, "REFUND.SUCCESS", plaintext)

    assert live.post_callback(body, callback_headers(live.state, body)).status_code == 204

    assert wait_until(lambda: events_settled(2))
    assert NotifyEvent.get(NotifyEvent.event_type == "REFUND.SUCCESS").status == "rejected"
    assert Alert.get(Alert.kind == "refund_mismatch").details["reported_fen"] == 2_001
    assert _refund_status(refund) == RefundStatus.PROCESSING and reload(bills.bills[0]).paid_fen == 12_000

    live.state.ledger.settle_refund(refund.out_refund_no)          # the genuine result
    assert wait_until(lambda: _refund_status(refund) == RefundStatus.SUCCESS)
    assert reload(bills.bills[0]).paid_fen == 10_000 and check_ledger() == []
