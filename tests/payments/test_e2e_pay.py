"""Paying over real HTTP: our app ↔ the sandbox, callbacks on our real endpoint (R4–R8)."""
from __future__ import annotations

import datetime as dt

import pytest

from payments.client import client_from_config
from payments.models import NotifyEvent, OrderBill, OrderStatus, PaymentOrder
from payments.orders import create_order
from payments.sandbox import PayFailed
from payments.service import cancel_order, close_order, start_payment, sync_order
from server.alerts import Alert
from server.billing.models import Bill, BillStatus
from server.errors import Conflict, Unavailable
from server.ledger.check import check_ledger
from server.ledger.models import Allocation, Payment
from server.timeutil import local_today, utcnow
from tests.payments.live import (events_settled, new_order, order_status, owner_with_bills, prepaid,
                                 reload, wait_for_status, wait_until)

SIX_MINUTES_AGO = dt.timedelta(minutes=6)


def _open_lines(order) -> int:
    return OrderBill.select().where(OrderBill.order == order.id, OrderBill.open_bill.is_null(False)).count()


def test_a_paid_order_is_credited_with_allocations_a_receipt_and_paid_bills(live):
    bills = owner_with_bills((12_000, 3_500))
    order, prepay_id = prepaid(live, bills)
    assert order.status == OrderStatus.PAYING and order.prepay_id == prepay_id

    paid_at_wechat = live.state.ledger.pay(prepay_id)

    assert wait_for_status(order, OrderStatus.PAID)
    assert wait_until(events_settled)
    order = reload(order)
    payment = Payment.get(Payment.order == order.id)
    assert (payment.amount_fen, payment.transaction_id) == (15_500, paid_at_wechat.transaction_id)
    assert order.transaction_id == paid_at_wechat.transaction_id and not payment.needs_review
    year = local_today(payment.received_at).year
    assert payment.receipt_no == f"{bills.house.community.code}{year}000001"
    allocations = {a.bill_id: a.amount_fen for a in Allocation.select().where(Allocation.payment == payment)}
    assert allocations == {bills.bills[0].id: 12_000, bills.bills[1].id: 3_500}
    assert all(reload(b).status == BillStatus.PAID for b in bills.bills)
    assert _open_lines(order) == 0
    assert NotifyEvent.get().status == "applied"
    assert wait_until(lambda: live.state.notifier.deliveries)
    assert [d["status"] for d in live.state.notifier.deliveries] == [204]
    assert check_ledger() == []


def test_a_failed_payment_credits_nothing_and_the_order_still_closes(live):
    bills = owner_with_bills((8_000,))
    order, prepay_id = prepaid(live, bills, now=utcnow() - SIX_MINUTES_AGO)

    with pytest.raises(PayFailed):
        live.state.ledger.pay(prepay_id, "insufficient_balance")
    assert sync_order(order, live.client).status == OrderStatus.PAYING
    live.state.ledger.pay(prepay_id, "payerror")
    order = sync_order(order, live.client)
    assert order.status == OrderStatus.PAYING and order.last_error.startswith("PAYERROR")
    assert Payment.select().count() == 0 and reload(bills.bills[0]).paid_fen == 0

    order = close_order(order, live.client, reason="expired")
    assert order.status == OrderStatus.CLOSED and order.remote_closed
    assert live.state.ledger.get(order.out_trade_no).trade_state == "CLOSED"
    assert _open_lines(order) == 0 and Payment.select().count() == 0
    assert reload(bills.bills[0]).status == BillStatus.UNPAID
    assert new_order(bills).id != order.id          # the bill may be paid again


def test_a_lost_callback_is_recovered_by_the_query(live):
    bills = owner_with_bills()
    order, prepay_id = prepaid(live, bills)
    live.state.set_faults(drop_callbacks=1)
    live.state.ledger.pay(prepay_id)
    assert order_status(order) == OrderStatus.PAYING      # no callback will ever come

    order = sync_order(order, live.client)

    assert order.status == OrderStatus.PAID
    assert Payment.get().raw == {"source": "query"}
    assert live.state.notifier.deliveries == [] and NotifyEvent.select().count() == 0
    assert check_ledger() == []


def test_a_prepay_timeout_leaves_the_order_unknown_until_a_query_with_the_same_number(live):
    bills = owner_with_bills((9_900,))
    order = new_order(bills)
    impatient = client_from_config(live.config, timeout=(2, 0.3), max_attempts=2, backoff=0.01)
    live.state.set_faults(timeout_after_create=-1, timeout_delay=1.0)
    try:
        with pytest.raises(Unavailable):
            start_payment(order, impatient, bills.owner.openid)
        assert reload(order).status == OrderStatus.UNKNOWN
        with pytest.raises(Unavailable):                   # still unknown, still not a new number
            start_payment(reload(order), impatient, bills.owner.openid)
    finally:
        live.state.reset_faults()
        impatient.transport.session.close()
    order = reload(order)
    assert order.status == OrderStatus.UNKNOWN and order.prepay_id is None
    assert list(live.state.ledger.orders) == [order.out_trade_no]

    order = sync_order(order, live.client)
    assert order.status == OrderStatus.PAYING
    params = start_payment(order, live.client, bills.owner.openid)
    prepay_id = params["package"].removeprefix("prepay_id=")
    assert prepay_id == live.state.ledger.get(order.out_trade_no).prepay_id == reload(order).prepay_id
    live.state.ledger.pay(prepay_id)

    assert wait_for_status(order, OrderStatus.PAID)
    assert list(live.state.ledger.orders) == [order.out_trade_no]   # exactly one order at WeChat
    assert Payment.select().count() == 1


def _unknown_after_a_prepay_timeout(live, bills):
    order = new_order(bills)
    impatient = client_from_config(live.config, timeout=(2, 0.3), max_attempts=1)
    live.state.set_faults(timeout_after_create=1, timeout_delay=1.0)
    try:
        with pytest.raises(Unavailable):
            start_payment(order, impatient, bills.owner.openid)
    finally:
        impatient.transport.session.close()
    assert reload(order).status == OrderStatus.UNKNOWN
    return reload(order)


def test_a_retried_prepay_that_finds_the_order_paid_credits_it_instead_of_closing_it(live):
    bills = owner_with_bills((7_700,))
    order = _unknown_after_a_prepay_timeout(live, bills)
    live.state.set_faults(drop_callbacks=1)
    live.state.ledger.pay(order.out_trade_no)       # paid at WeChat; we never saw the prepay id

    with pytest.raises(Conflict) as changed:
        start_payment(order, live.client, bills.owner.openid)      # WeChat answers ORDERPAID

    assert changed.value.code == "ORDER_STATE_CHANGED"
    order = reload(order)
    assert order.status == OrderStatus.PAID and not Payment.get(Payment.order == order.id).needs_review


def test_closing_is_refused_within_five_minutes_and_after_expiry_closes_at_wechat(live):
    bills = owner_with_bills()
    order, _ = prepaid(live, bills)
    close_path = f"/v3/pay/transactions/out-trade-no/{order.out_trade_no}/close"

    with pytest.raises(Conflict) as refused:
        close_order(order, live.client, reason="expired")
    assert refused.value.code == "TOO_EARLY_TO_CLOSE"
    assert live.state.count_requests(close_path) == 0 and order_status(order) == OrderStatus.PAYING

    order = close_order(reload(order), live.client, reason="expired",
                        now=order.expires_at + dt.timedelta(seconds=1))

    assert order.status == OrderStatus.CLOSED and order.remote_closed
    assert live.state.count_requests(close_path) == 1
    assert live.state.ledger.get(order.out_trade_no).trade_state == "CLOSED"
    assert _open_lines(order) == 0


def test_a_close_wechat_did_not_accept_is_closed_here_and_retried_at_wechat_later(live):
    bills = owner_with_bills()
    order, _ = prepaid(live, bills, now=utcnow() - SIX_MINUTES_AGO)
    live.state.set_faults(fail_5xx=3)                     # every attempt of the close fails

    order = close_order(order, live.client, reason="expired")

    assert order.status == OrderStatus.CLOSED and not order.remote_closed and _open_lines(order) == 0
    assert live.state.ledger.get(order.out_trade_no).trade_state == "NOTPAY"
    order = close_order(order, live.client, reason="expired")          # the janitor's next round
    assert order.remote_closed and live.state.ledger.get(order.out_trade_no).trade_state == "CLOSED"


def test_a_payment_after_a_local_cancel_is_recorded_and_flagged_for_review(live):
    bills = owner_with_bills()
    order, prepay_id = prepaid(live, bills)
    order = cancel_order(order, live.client)            # within 5 minutes: closed here only
    assert order.status == OrderStatus.CLOSED and not order.remote_closed and _open_lines(order) == 0

    live.state.ledger.pay(prepay_id)                     # the owner was still at the cashier

    assert wait_for_status(order, OrderStatus.PAID)
    assert wait_until(events_settled)
    payment = Payment.get(Payment.order == order.id)
    assert payment.needs_review and payment.review_reason == "订单关闭后才付款"
    assert Alert.get(Alert.kind == "payment_needs_review").details["payment_id"] == payment.id
    assert all(reload(b).status == BillStatus.PAID for b in bills.bills)
    assert check_ledger() == []


def test_a_payment_after_close_at_wechat_is_kept_even_when_the_bills_were_paid_again(live):
    bills = owner_with_bills((10_000,))
    first, first_prepay = prepaid(live, bills, now=utcnow() - SIX_MINUTES_AGO)
    first = close_order(first, live.client, reason="expired")
    assert first.status == OrderStatus.CLOSED and first.remote_closed
    second, second_prepay = prepaid(live, bills)
    live.state.ledger.pay(second_prepay)
    assert wait_for_status(second, OrderStatus.PAID)

    live.state.ledger.pay(first_prepay, force=True)      # WeChat took the money anyway

    assert wait_for_status(first, OrderStatus.PAID)
    assert wait_until(lambda: events_settled(2))
    late = Payment.get(Payment.order == first.id)
    assert late.amount_fen == 10_000 and late.needs_review
    assert late.review_reason == "订单关闭后才付款；100.00 元未能入账（账单已缴清或已作废），请核对后退款"
    assert Allocation.select().where(Allocation.payment == late).count() == 0
    assert Bill.get_by_id(bills.ids[0]).paid_fen == 10_000       # the bill is paid once
    assert Alert.select().where(Alert.kind == "payment_needs_review").count() == 1
    assert check_ledger() == []


def test_an_amount_mismatch_is_alerted_kept_and_acknowledged_but_not_applied(live):
    bills = owner_with_bills((5_000,))
    order, prepay_id = prepaid(live, bills)
    live.state.set_faults(wrong_amount=1)

    live.state.ledger.pay(prepay_id)

    assert wait_until(lambda: events_settled() and live.state.notifier.deliveries)
    event = NotifyEvent.get()
    assert event.status == "rejected" and "支付金额 5001 分与订单金额 5000 分不符" in event.result
    assert event.out_trade_no == order.out_trade_no
    assert [d["status"] for d in live.state.notifier.deliveries] == [204]
    assert order_status(order) == OrderStatus.PAYING and Payment.select().count() == 0
    alert = Alert.get(Alert.kind == "payment_mismatch")
    assert alert.details["out_trade_no"] == order.out_trade_no
    assert PaymentOrder.get_by_id(order.id).transaction_id is None
    assert create_order(bills.owner.id, bills.ids)[0].id == order.id    # still the open order
