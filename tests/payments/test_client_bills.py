"""Trade bill apply + download with the SHA1 check, plain and gzip, in WeChat's file format (§7)."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from decimal import Decimal

import pytest
import requests

from payments.exceptions import BillHashMismatch, BillNotAvailable, RequestRejected
from payments.sandbox.bills import ALL_COLUMNS, REFUND_COLUMNS, SUCCESS_COLUMNS, yuan
from payments.sandbox.ledger import CST
from tests.payments.conftest import OPENID, in_minutes


@pytest.fixture
def trading_day(pay_client, sandbox):
    """Two payments (123.45 and 0.01 yuan) and one 20.00 yuan refund today."""
    ledger = sandbox.state.ledger
    ledger.pay(pay_client.jsapi_prepay("WYBILL0001", "物业费, 1月", 12345, OPENID, in_minutes()))
    ledger.pay(pay_client.jsapi_prepay("WYBILL0002", "停车费", 1, OPENID, in_minutes()))
    pay_client.refund("RFBILL0001", 2000, 12345, "退回", out_trade_no="WYBILL0001")
    assert sandbox.state.notifier.wait_for(lambda n: ledger.get_refund("RFBILL0001").status == "SUCCESS")
    return dt.datetime.fromtimestamp(sandbox.state.now(), CST).date()


def _lines(data: bytes) -> list[str]:
    assert data.startswith(b"\xef\xbb\xbf")                      # UTF-8 BOM
    text = data[3:].decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return text[:-2].split("\r\n")


@pytest.mark.parametrize("tar_type", [None, "GZIP"])
def test_all_bill_downloads_and_its_sha1_checks(pay_client, trading_day, tar_type):
    info = pay_client.trade_bill(trading_day, tar_type=tar_type)
    assert info["hash_type"] == "SHA1"
    data = pay_client.download_bill(info["download_url"], info["hash_value"], gzip=tar_type == "GZIP")
    assert hashlib.sha1(data).hexdigest() == info["hash_value"]
    lines = _lines(data)
    assert lines[0].split(",") == ALL_COLUMNS and len(ALL_COLUMNS) == 27
    rows = [line.split(",") for line in lines[1:-2]]
    assert len(rows) == 3 and all(len(r) == 27 and all(f.startswith("`") for f in r) for r in rows)
    by_status = {r[9]: r for r in rows if r[9] != "`SUCCESS" or r[6] == "`WYBILL0001"}
    success, refund = by_status["`SUCCESS"], by_status["`REFUND"]
    assert success[12] == "`123.45" and success[14] == "`0" and success[20] == "`物业费， 1月"
    assert success[7] == f"`{OPENID}" and success[23] == "`0.60%" and success[22] == "`0.74000"
    assert refund[16] == "`20.00" and refund[15] == "`RFBILL0001" and refund[19] == "`SUCCESS"
    assert lines[-2] == "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    summary = [f.lstrip("`") for f in lines[-1].split(",")]
    assert summary[:4] == ["3", "123.46", "20.00", "0.00"]
    assert Decimal(summary[4]) == Decimal("0.74") + Decimal("0.00") - Decimal("0.12")


def test_gzip_bill_is_gzip_on_the_wire(pay_client, sandbox, merchant, trading_day):
    info = pay_client.trade_bill(trading_day, tar_type="GZIP")
    raw = pay_client.transport.request("GET", info["download_url"], state_changing=False,
                                   verify_response=False).body
    assert raw[:2] == b"\x1f\x8b" and hashlib.sha1(gzip.decompress(raw)).hexdigest() == info["hash_value"]


def test_success_and_refund_bills_have_their_own_columns(pay_client, trading_day):
    info = pay_client.trade_bill(trading_day, bill_type="SUCCESS")
    lines = _lines(pay_client.download_bill(info["download_url"], info["hash_value"]))
    assert lines[0].split(",") == SUCCESS_COLUMNS and len(lines) == 2 + 3
    info = pay_client.trade_bill(trading_day, bill_type="REFUND")
    lines = _lines(pay_client.download_bill(info["download_url"], info["hash_value"]))
    assert lines[0].split(",") == REFUND_COLUMNS and len(lines) == 1 + 1 + 2


@pytest.mark.parametrize("gz", [False, True])
def test_corrupted_download_fails_the_sha1_check(pay_client, sandbox, trading_day, gz):
    info = pay_client.trade_bill(trading_day, tar_type="GZIP" if gz else None)
    sandbox.state.set_faults(corrupt_bill_download=1)
    with pytest.raises(BillHashMismatch):
        pay_client.download_bill(info["download_url"], info["hash_value"], gzip=gz)


def test_a_wrong_hash_value_fails(pay_client, trading_day):
    info = pay_client.trade_bill(trading_day)
    with pytest.raises(BillHashMismatch):
        pay_client.download_bill(info["download_url"], "0" * 40)


def test_bill_download_refuses_foreign_hosts(pay_client):
    with pytest.raises(RequestRejected):
        pay_client.download_bill("https://evil.example/v3/billdownload/file?token=x", "0" * 40)


def test_a_day_without_trades_has_no_statement(pay_client, sandbox):
    yesterday = dt.datetime.fromtimestamp(sandbox.state.now(), CST).date() - dt.timedelta(days=1)
    with pytest.raises(BillNotAvailable) as info:
        pay_client.trade_bill(yesterday)
    assert info.value.code == "NO_STATEMENT_EXIST"


@pytest.mark.parametrize("sandbox_options", [{"bills_available_immediately": False}])
def test_yesterdays_bill_is_ready_only_after_ten_the_next_morning(pay_client, sandbox, sandbox_options):
    state = sandbox.state
    now = dt.datetime.fromtimestamp(state.now(), CST)
    state.advance((dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(9, 59), CST) - now)
                  .total_seconds())          # tomorrow 09:59: the pay_client's clock follows the sandbox's
    state.ledger.pay(pay_client.jsapi_prepay("WYBILL0003", "物业费", 100, OPENID, in_minutes(60 * 48)))
    today = dt.datetime.fromtimestamp(state.now(), CST).date()
    state.advance(24 * 3600)                               # the day after, 09:59
    with pytest.raises(BillNotAvailable) as info:
        pay_client.trade_bill(today)
    assert info.value.code == "STATEMENT_CREATING"
    state.advance(61)
    assert pay_client.trade_bill(today)["hash_value"]


def test_bill_download_link_needs_our_signature(pay_client, trading_day):
    info = pay_client.trade_bill(trading_day)
    assert requests.get(info["download_url"], timeout=5).status_code == 401


def test_yuan_is_computed_with_decimal():
    assert yuan(1) == "0.01" and yuan(12345) == "123.45" and yuan(-12) == "-0.12"
    assert yuan(Decimal("74"), "0.00001") == "0.74000"
