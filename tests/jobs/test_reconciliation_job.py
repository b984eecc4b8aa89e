"""The reconciliation jobs against the sandbox: apply, download (gzip, SHA1), reconcile."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from jobs import reconciliation as jobs_reconciliation
from jobs import runtime
from payments.exceptions import BillHashMismatch
from payments.models import OrderStatus, PaymentOrder
from payments.orders import create_order
from payments.service import start_payment
from payments.settlement import credit_wechat_transaction
from server.alerts import Alert
from server.config import Config
from server.ledger.models import Payment
from server.reconciliation.models import ItemKind, ReconciliationItem, ReconciliationRun, RunStatus
from server.timeutil import SHANGHAI, local_today, utcnow
from tests.payments.conftest import OPENID
from tests.payments.live import owner_with_bills


@pytest.fixture
def wechat(database, sandbox, pay_client, inline_jobs):
    runtime.configure(Config(), client=pay_client)
    return sandbox.state


def _next_morning() -> dt.datetime:
    return dt.datetime.combine(local_today() + dt.timedelta(days=1), dt.time(10, 30), tzinfo=SHANGHAI)


def test_the_daily_job_reconciles_yesterday_and_credits_what_the_callback_missed(wechat, pay_client):
    bills = owner_with_bills((12_000, 3_500))
    order, _ = create_order(bills.owner.id, bills.ids)
    start_payment(order, pay_client, OPENID)
    wechat.set_faults(drop_callbacks=1)
    wechat.ledger.pay(PaymentOrder.get_by_id(order.id).prepay_id)
    paid_on = local_today()

    with time_machine.travel(_next_morning(), tick=True):
        assert jobs_reconciliation.daily(utcnow().isoformat()) == [paid_on.isoformat()]

    assert PaymentOrder.get_by_id(order.id).status == OrderStatus.PAID
    assert Payment.get(Payment.order == order.id).amount_fen == 15_500
    run = ReconciliationRun.get(ReconciliationRun.bill_date == paid_on)
    assert run.status == RunStatus.DONE and run.summary_ok and len(run.file_sha1) == 40
    item = ReconciliationItem.get()
    assert (item.kind, item.resolved_by) == (ItemKind.MISSING_LOCAL, "system")
    assert (run.remote_payment_fen, run.local_payment_fen) == (15_500, 15_500)


def test_a_corrupted_download_fails_the_run_with_an_alert_and_a_retry_succeeds(wechat, pay_client):
    bills = owner_with_bills((800,))
    order, _ = create_order(bills.owner.id, bills.ids)
    start_payment(order, pay_client, OPENID)
    wechat.ledger.pay(PaymentOrder.get_by_id(order.id).prepay_id)
    day = local_today()
    wechat.set_faults(corrupt_bill_download=1)
    with time_machine.travel(_next_morning(), tick=True):
        with pytest.raises(BillHashMismatch):
            jobs_reconciliation.reconcile_date(day.isoformat())
        run = ReconciliationRun.get()
        assert run.status == RunStatus.FAILED and "BillHashMismatch" in run.error
        assert Alert.get(Alert.kind == "reconciliation_failed")
        jobs_reconciliation.reconcile_date(day.isoformat())
    run = ReconciliationRun.get()
    assert (run.status, run.attempts, run.error) == (RunStatus.DONE, 2, "")


def test_a_day_without_a_bill_still_finds_our_payments_wechat_does_not_know(wechat):
    bills = owner_with_bills((2_000,))
    order, _ = create_order(bills.owner.id, bills.ids)
    yesterday = local_today() - dt.timedelta(days=1)
    credit_wechat_transaction(
        {"mchid": wechat.mchid, "appid": wechat.appid, "out_trade_no": order.out_trade_no,
         "transaction_id": "4200000000000000000000009999", "trade_state": "SUCCESS",
         "success_time": dt.datetime.combine(yesterday, dt.time(12), tzinfo=SHANGHAI).isoformat(),
         "amount": {"total": 2_000, "currency": "CNY"}},
        mchid=wechat.mchid, appid=wechat.appid, source="test")
    run_id = jobs_reconciliation.reconcile_date(yesterday.isoformat())["run_id"]
    run = ReconciliationRun.get_by_id(run_id)
    assert run.status == RunStatus.DONE and run.remote_rows == 0 and run.file_sha1 == ""
    item = ReconciliationItem.get()
    assert (item.kind, item.reference, item.local_fen) == (ItemKind.MISSING_REMOTE,
                                                           "4200000000000000000000009999", 2_000)
