"""A whole pay-and-refund flow through our app logs no key, ciphertext or openid (R17)."""
from __future__ import annotations

import json
import logging

from payments import refunds
from payments.models import OrderStatus
from server.ledger.models import Payment, Refund, RefundStatus
from tests.payments.live import (callback_headers, envelope_for, events_settled, owner_with_bills,
                                 prepaid, success_plaintext, wait_for_status, wait_until)


def test_a_full_flow_through_our_endpoint_logs_no_secret_ciphertext_or_openid(live, merchant, caplog):
    caplog.set_level(logging.DEBUG)
    # peewee's DEBUG lines are every SQL statement with its parameters (the stored raw
    # callback, openids): a database trace, not application logging; kept at INFO as in
    # production (create_app configures INFO).
    caplog.set_level(logging.INFO, logger="peewee")
    bills = owner_with_bills((12_000,))
    order, prepay_id = prepaid(live, bills)
    pay_params = live.client.mini_program_pay_params(prepay_id)
    live.state.set_faults(wrong_amount=1)
    live.state.ledger.pay(prepay_id)                            # a mismatch: alerted, logged
    assert wait_until(events_settled)
    body = envelope_for(live.state, "TRANSACTION.SUCCESS", success_plaintext(live.state, order.out_trade_no))
    assert live.post_callback(body, callback_headers(live.state, body, probe=True)).status_code == 401
    assert live.post_callback(body, callback_headers(live.state, body)).status_code == 204
    assert wait_for_status(order, OrderStatus.PAID)
    refund = refunds.request_refund(Payment.get().id, bills.ids[0], 2_000, "多收", bills.staff, request_key="r")
    refunds.approve_refund(refund.id, bills.approver, live.client)
    assert wait_until(lambda: Refund.get_by_id(refund.id).status == RefundStatus.SUCCESS)
    assert wait_until(lambda: events_settled(3))

    text = caplog.text
    assert "wechatpay POST" in text and "rejected WeChat Pay callback" in text    # it did log
    secrets = [live.state.apiv3_key, bills.owner.openid, pay_params["paySign"]]
    secrets += [line for line in merchant.key_pem.splitlines() if not line.startswith("-----")]
    bodies = [n["body"] for n in live.state.notifier.notifications.values()] + [body]
    secrets += [json.loads(b)["resource"]["ciphertext"][:24] for b in bodies]
    leaked = [s for s in secrets if s in text]
    assert leaked == []
    assert "PRIVATE KEY" not in text
