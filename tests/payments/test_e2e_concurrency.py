"""Races: callbacks against callbacks and queries, orders against orders (R5, habit 4)."""
from __future__ import annotations

import datetime as dt

import pytest

from payments.models import NotifyEvent, OrderBill, OrderStatus, PaymentOrder
from payments.orders import create_order
from payments.service import refresh_if_stale, sync_order
from server.billing.models import BillStatus
from server.errors import Conflict
from server.ledger.check import check_ledger
from server.ledger.models import Allocation, Payment, ReceiptCounter
from server.property.models import Binding, Owner
from tests.payments.live import (callback_headers, envelope_for, events_settled, owner_with_bills,
                                 prepaid, reload, run_together, success_plaintext, wait_for_status,
                                 wait_until)

AMOUNTS = (12_000, 3_500, 800)


def _assert_credited_once(order, bills):
    payment = Payment.get(Payment.order == order.id)
    assert Payment.select().count() == 1
    assert sorted((a.bill_id, a.amount_fen) for a in Allocation.select()) == \
        sorted(zip(bills.ids, AMOUNTS))
    assert ReceiptCounter.get().last_seq == 1 and payment.receipt_no.endswith("000001")
    for bill, amount in zip(bills.bills, AMOUNTS):
        bill = reload(bill)
        assert (bill.paid_fen, bill.status) == (amount, BillStatus.PAID)
    assert check_ledger() == []


def test_twenty_identical_callbacks_racing_active_queries_credit_the_payment_once(live):
    bills = owner_with_bills(AMOUNTS)
    order, prepay_id = prepaid(live, bills)
    live.state.set_faults(drop_callbacks=1)            # we deliver the callback ourselves, 20 times
    live.state.ledger.pay(prepay_id)
    body = envelope_for(live.state, "TRANSACTION.SUCCESS", success_plaintext(live.state, order.out_trade_no))

    def callback():
        return live.post_callback(body, callback_headers(live.state, body)).status_code

    def query():
        return sync_order(PaymentOrder.get_by_id(order.id), live.client).status

    def owner_refresh():
        return refresh_if_stale(PaymentOrder.get_by_id(order.id), live.client,
                                min_interval=dt.timedelta(0)).status

    results = run_together([callback] * 20 + [query, query, owner_refresh])

    assert results[:20] == [204] * 20
    assert results[20:22] == [OrderStatus.PAID] * 2
    assert results[22] in (OrderStatus.PAYING, OrderStatus.PAID)   # it may have read before the credit
    assert wait_until(events_settled)
    assert NotifyEvent.select().count() == 1
    assert NotifyEvent.get().status in ("applied", "already_applied")
    _assert_credited_once(reload(order), bills)


def test_the_sandbox_sending_twenty_copies_at_once_while_we_query_credits_once(pg_live):
    bills = owner_with_bills(AMOUNTS)
    order, prepay_id = prepaid(pg_live, bills)
    pg_live.state.set_faults(duplicate_callbacks=20)

    pg_live.state.ledger.pay(prepay_id)
    sync_order(reload(order), pg_live.client)

    assert wait_until(lambda: len(pg_live.state.notifier.deliveries) == 20)
    assert [d["status"] for d in pg_live.state.notifier.deliveries] == [204] * 20
    assert wait_for_status(order, OrderStatus.PAID) and wait_until(events_settled)
    _assert_credited_once(reload(order), bills)


def test_eight_concurrent_orders_for_the_same_bills_make_one_order(pg_database):
    bills = owner_with_bills((10_000, 2_000))
    keys = ["same", "same", "same", "k1", "k2", "k3", None, None]

    results = run_together([lambda k=k: create_order(bills.owner.id, bills.ids, k) for k in keys])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert {order.id for order, _ in results} == {PaymentOrder.get().id}
    assert sum(created for _, created in results) == 1
    assert OrderBill.select().where(OrderBill.open_bill.is_null(False)).count() == 2


def test_concurrent_orders_by_two_owners_of_one_house_leave_one_order_and_conflicts(pg_database):
    bills = owner_with_bills((10_000,))
    tenant = Owner.create(openid="o-tenant-0000000000000000000")
    Binding.create(owner=tenant, house=bills.house, verified_by="staff")
    owners = [bills.owner.id, tenant.id] * 4

    results = run_together([lambda o=o: create_order(o, bills.ids) for o in owners])

    orders = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(orders) + len(conflicts) == 8 and len(conflicts) == 4
    assert {c.code for c in conflicts} == {"BILL_IN_OPEN_ORDER"}
    assert PaymentOrder.select().count() == 1 and {o.id for o, _ in orders} == {PaymentOrder.get().id}


def test_the_same_idempotency_key_returns_the_order_and_a_different_body_is_409(database):
    bills = owner_with_bills((10_000, 2_000, 500))
    first, created = create_order(bills.owner.id, bills.ids[:2], "key-1")
    again, created_again = create_order(bills.owner.id, list(reversed(bills.ids[:2])), "key-1")
    assert created and not created_again and again.id == first.id

    with pytest.raises(Conflict) as reused:
        create_order(bills.owner.id, bills.ids, "key-1")
    assert reused.value.status == 409 and reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert PaymentOrder.select().count() == 1


def test_a_bill_in_an_open_order_cannot_enter_a_second_order(database):
    bills = owner_with_bills((10_000, 2_000, 500))
    first, _ = create_order(bills.owner.id, bills.ids[:2], "key-1")

    with pytest.raises(Conflict) as taken:
        create_order(bills.owner.id, bills.ids[1:], "key-2")
    assert taken.value.code == "BILL_IN_OPEN_ORDER"
    assert taken.value.details == {"bill_id": bills.ids[1], "out_trade_no": first.out_trade_no}
    third, created = create_order(bills.owner.id, bills.ids[2:], "key-3")      # a free bill is fine
    assert created and PaymentOrder.select().count() == 2
