"""``out_refund_no``: deterministic per refund request, distinct per installation (R8, R14)."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments import offline, refunds
from payments.client import OUT_REFUND_NO_RE
from payments.models import Channel
from server.audit import Actor
from server import config as cfgmod
from server.config import Config, ConfigError
from server.ledger.models import Payment, Refund
from tests import factories as f

IDS = st.integers(min_value=0, max_value=2**63 - 1)
PREFIXES = st.from_regex(r"\A[0-9A-Za-z]{1,8}\Z")
KEYS = st.text(max_size=200)


def test_installations_with_different_prefixes_number_the_same_request_differently():
    first = refunds.refund_no_prefix(cfgmod.TestingConfig(WECHATPAY_REFUND_NO_PREFIX="PROD1"))
    second = refunds.refund_no_prefix(cfgmod.TestingConfig(WECHATPAY_REFUND_NO_PREFIX="TEST1"))
    assert (first, second) == ("PROD1", "TEST1")
    assert refunds.out_refund_no(7, 9, "form-token", first) != refunds.out_refund_no(7, 9, "form-token", second)
    assert refunds.out_refund_no(7, 9, "form-token", first).startswith("RFPROD1_7B9_")


def test_the_same_request_always_gets_the_same_number():
    prefix = refunds.refund_no_prefix(cfgmod.TestingConfig(WECHATPAY_REFUND_NO_PREFIX="A1"))
    assert refunds.out_refund_no(7, 9, "k", prefix) == refunds.out_refund_no(7, 9, "k", "A1")
    assert refunds.out_refund_no(7, 9, "k", prefix) != refunds.out_refund_no(7, 9, "k2", prefix)


def test_without_a_configured_prefix_each_installation_derives_one_from_its_secret_key():
    one = refunds.refund_no_prefix(cfgmod.TestingConfig(SECRET_KEY="installation-one"))
    two = refunds.refund_no_prefix(cfgmod.TestingConfig(SECRET_KEY="installation-two"))
    assert one != two and one == refunds.refund_no_prefix(cfgmod.TestingConfig(SECRET_KEY="installation-one"))
    assert len(one) == 6 and one.isalnum() and "installation" not in one


@pytest.mark.parametrize("bad", ["", "toolong123", "A-B", "前缀", "a b"])
def test_an_invalid_prefix_is_refused(bad):
    if bad:
        with pytest.raises(ConfigError):
            Config.from_env({"WECHATPAY_REFUND_NO_PREFIX": bad})
        with pytest.raises(ConfigError):
            refunds.refund_no_prefix(cfgmod.TestingConfig(WECHATPAY_REFUND_NO_PREFIX=bad))
    with pytest.raises(ValueError):
        refunds.out_refund_no(1, 2, "k", bad)


@settings(max_examples=300, deadline=None)
@given(IDS, IDS, KEYS, PREFIXES)
def test_numbers_stay_within_wechats_limits_and_are_deterministic(payment_id, bill_id, key, prefix):
    number = refunds.out_refund_no(payment_id, bill_id, key, prefix)
    assert OUT_REFUND_NO_RE.match(number) and 1 <= len(number) <= 64
    assert number == refunds.out_refund_no(payment_id, bill_id, key, prefix)
    assert number.startswith(f"RF{prefix}_")
    # "_" never occurs in a legacy number: new numbers cannot collide with old ones.
    assert number != refunds.legacy_out_refund_no(payment_id, bill_id, key)


@settings(max_examples=200, deadline=None)
@given(IDS, IDS, KEYS, PREFIXES, PREFIXES)
def test_two_prefixes_never_share_a_number(payment_id, bill_id, key, one, two):
    if one != two:
        assert refunds.out_refund_no(payment_id, bill_id, key, one) != \
            refunds.out_refund_no(payment_id, bill_id, key, two)


# ---------------------------------------------------------------- with a database
@pytest.fixture
def paid(database):
    comm = f.community()
    house = f.house(comm)
    item = f.fee_item(comm, "property", "物业费")
    bill = f.bill(house, item, period="2026-01", amount_fen=30_000)
    cashier = Actor.staff(f.staff("cashier"))
    order = offline.record_offline_payment(comm.id, [(bill.id, 30_000)], Channel.CASH, "RN1", "", cashier,
                                           approval_threshold_fen=10**9, received_on=dt.date(2026, 3, 2))
    return Payment.get(Payment.order == order.id), bill, cashier


def test_request_refund_uses_the_installations_prefix_from_the_app_config(paid, make_app, database):
    payment, bill, cashier = paid
    app = make_app(database.test_url, WECHATPAY_REFUND_NO_PREFIX="SITE7")
    with app.app_context():
        refund = refunds.request_refund(payment.id, bill.id, 1_000, "多收", cashier, request_key="k1")
        again = refunds.request_refund(payment.id, bill.id, 1_000, "多收", cashier, request_key="k1")
    assert refund.out_refund_no == refunds.out_refund_no(payment.id, bill.id, "k1", "SITE7")
    assert again.id == refund.id and Refund.select().count() == 1


def test_a_request_made_before_prefixes_keeps_its_number_when_retried(paid):
    payment, bill, cashier = paid
    legacy = refunds.legacy_out_refund_no(payment.id, bill.id, "k1")
    Refund.create(payment=payment, bill=bill.id, out_refund_no=legacy, amount_fen=1_000, reason="多收",
                  status="pending_approval", requested_by=cashier.staff_id)
    again = refunds.request_refund(payment.id, bill.id, 1_000, "多收", cashier, request_key="k1", prefix="NEW1")
    assert again.out_refund_no == legacy and Refund.select().count() == 1
    other = refunds.request_refund(payment.id, bill.id, 1_000, "多收", cashier, request_key="k2", prefix="NEW1")
    assert other.out_refund_no.startswith("RFNEW1_") and Refund.select().count() == 2
