"""The janitor, time-travelled against the sandbox over real HTTP (R7): no callback
is not "unpaid", and every order ends terminal or flagged."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from payments import janitor, refunds
from payments.models import NotifyEvent, OrderStatus, PaymentOrder
from payments.notify import Merchant
from payments.orders import create_order
from payments.service import cancel_order, start_payment, sync_order
from server.alert_rules import stuck_orders
from server.alerts import Alert, Severity
from server.ledger.models import Payment, Refund, RefundStatus
from server.timeutil import utcnow
from tests import factories as f
from tests.payments.conftest import OPENID
from tests.payments.live import envelope_for, owner_with_bills, run_together

MINUTE = dt.timedelta(minutes=1)
FOREVER = -1


@pytest.fixture
def clock():
    with time_machine.travel(utcnow(), tick=True) as traveller:
        yield traveller


@pytest.fixture
def shop(database, sandbox, pay_client):
    """``shop.order(**create_order kwargs)``: an order prepaid at the sandbox; ``shop.run()``: one pass."""
    class Shop:
        client = pay_client
        state = sandbox.state
        merchant = Merchant(sandbox.state.mchid, sandbox.state.appid)

        def order(self, **kwargs) -> PaymentOrder:
            bills = owner_with_bills((12_000,))
            order, _ = create_order(bills.owner.id, [b.id for b in bills.bills], **kwargs)
            start_payment(order, pay_client, OPENID)
            return PaymentOrder.get_by_id(order.id)

        def pay(self, order: PaymentOrder) -> None:
            self.state.ledger.pay(order.prepay_id)

        def run(self) -> janitor.Report:
            return janitor.run(pay_client, self.merchant)

    return Shop()


def reload(order):
    return PaymentOrder.get_by_id(order.id)


def test_the_query_steps_are_one_five_thirty_minutes_two_hours_and_a_day():
    t0 = dt.datetime(2026, 1, 31, 16, 30, tzinfo=dt.timezone.utc)
    steps = [janitor.next_step(t0, t0)]
    while steps[-1] is not None:
        steps.append(janitor.next_step(t0, steps[-1]))
    assert [s - t0 for s in steps[:-1]] == [dt.timedelta(minutes=m) for m in (1, 5, 30, 120, 1440)]
    assert janitor.next_step(t0, t0 + dt.timedelta(hours=3)) == t0 + dt.timedelta(days=1)


def test_a_payment_whose_callback_was_lost_is_found_by_the_query_a_minute_later(shop, clock):
    order = shop.order()
    shop.state.set_faults(drop_callbacks=1)
    shop.pay(order)
    assert shop.run().checked == 0                       # its first turn is at +1 min
    clock.shift(61)
    report = shop.run()
    assert (report.checked, report.resolved) == (1, 1)
    order = reload(order)
    assert order.status == OrderStatus.PAID and order.next_query_at is None
    assert Payment.get(Payment.order == order.id).amount_fen == 12_000


def test_when_every_query_fails_the_order_is_flagged_after_the_last_step_and_then_closed(shop, clock):
    order = shop.order()
    created = order.created_at
    shop.state.set_faults(fail_5xx=FOREVER)
    turns = []
    for minutes in (1, 5, 30, 120, 1440):
        clock.move_to(created + dt.timedelta(minutes=minutes, seconds=1))
        report = shop.run()
        assert (report.checked, report.errors) == (1, 1)
        turns.append(reload(order).next_query_at - created)
    assert turns[:4] == [dt.timedelta(minutes=m) for m in (5, 30, 120, 1440)]
    assert turns[4] == dt.timedelta(hours=25, seconds=1)          # hourly after the last step
    alert = Alert.get(Alert.kind == "order_unresolved")
    assert alert.severity == Severity.CRITICAL and order.out_trade_no in alert.message
    clock.move_to(created + dt.timedelta(hours=24, minutes=5))
    assert stuck_orders(utcnow()).details["out_trade_nos"] == [order.out_trade_no]

    shop.state.reset_faults()                                     # WeChat answers again
    clock.move_to(created + dt.timedelta(hours=25, seconds=2))
    assert shop.run().resolved == 1
    order = reload(order)
    assert (order.status, order.remote_closed) == (OrderStatus.CLOSED, True)
    assert shop.state.ledger.get(order.out_trade_no).trade_state == "CLOSED"


def test_an_expired_order_is_closed_but_never_within_five_minutes(shop, clock):
    order = shop.order(expiry=dt.timedelta(minutes=1))
    clock.shift(90)                                               # expired, but only 90 s old
    assert shop.run().checked == 1
    assert reload(order).status == OrderStatus.PAYING and shop.state.count_requests("/close") == 0
    clock.move_to(order.created_at + dt.timedelta(minutes=5, seconds=1))
    assert shop.run().resolved == 1
    order = reload(order)
    assert (order.status, order.remote_closed) == (OrderStatus.CLOSED, True)
    assert shop.state.ledger.get(order.out_trade_no).trade_state == "CLOSED"


def test_an_order_cancelled_early_is_closed_at_wechat_once_five_minutes_have_passed(shop, clock):
    order = cancel_order(shop.order(), shop.client)
    assert (order.status, order.remote_closed) == (OrderStatus.CLOSED, False)
    clock.shift(120)
    assert shop.run().closed_remotely == 0
    assert shop.state.ledger.get(order.out_trade_no).trade_state == "NOTPAY"
    clock.move_to(order.created_at + dt.timedelta(minutes=5, seconds=1))
    assert shop.run().closed_remotely == 1
    assert reload(order).remote_closed and shop.state.ledger.get(order.out_trade_no).trade_state == "CLOSED"
    assert shop.run().closed_remotely == 0                        # done: not closed again


def test_a_refund_still_processing_here_is_settled_by_its_query(shop, clock):
    order = shop.order()
    shop.pay(order)
    sync_order(order, shop.client)
    payment = Payment.get(Payment.order == order.id)
    refund = refunds.request_refund(payment.id, payment.allocations.get().bill_id, 2_000, "多收",
                                    f.staff_actor(), request_key="r1")
    refunds.approve_refund(refund.id, f.staff_actor(), shop.client)
    assert Refund.get_by_id(refund.id).status == RefundStatus.PROCESSING   # its callback goes nowhere
    clock.shift(61)
    assert shop.run().refunds_synced == 1
    assert Refund.get_by_id(refund.id).status == RefundStatus.SUCCESS


def test_a_stored_callback_that_was_never_applied_is_applied(shop, clock):
    order = shop.order()
    shop.state.set_faults(drop_callbacks=1)
    shop.pay(order)
    plaintext = shop.state.ledger.transaction(shop.state.ledger.get(order.out_trade_no))
    body = envelope_for(shop.state, "TRANSACTION.SUCCESS", plaintext, "stored-1")
    NotifyEvent.create(notification_id="stored-1", event_type="TRANSACTION.SUCCESS", body=body.decode(),
                       verified=True, status="received")
    assert shop.run().callbacks_replayed == 1
    assert reload(order).status == OrderStatus.PAID
    assert NotifyEvent.get().status == "applied"


def test_two_janitors_at_once_query_an_order_once(shop, clock, database):
    order = shop.order()
    clock.shift(61)
    before = shop.state.count_requests(f"/v3/pay/transactions/out-trade-no/{order.out_trade_no}")
    reports = run_together([shop.run, shop.run])
    assert sorted(r.checked for r in reports) == [0, 1]
    assert shop.state.count_requests(f"/v3/pay/transactions/out-trade-no/{order.out_trade_no}") == before + 1


def test_an_order_never_prepaid_is_closed_and_releases_its_bills(shop, clock):
    bills = owner_with_bills((500,))
    order, _ = create_order(bills.owner.id, [bills.bills[0].id])
    clock.shift(150)
    shop.run()
    assert reload(order).status == OrderStatus.CLOSED
    again, created = create_order(bills.owner.id, [bills.bills[0].id])
    assert created and again.id != order.id
