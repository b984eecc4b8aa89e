"""The signed print link of a receipt: opens the page without a bearer token, for a while,
for that owner only."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from server.ledger.models import Allocation, Payment
from server.owners import receipt_links
from server.timeutil import UTC, utcnow
from tests import factories
from tests.miniprogram_api.conftest import bind

PAID_AT = dt.datetime(2026, 3, 31, 17, 5, 9, tzinfo=UTC)


@pytest.fixture
def paid(login, estate):
    """An owner bound to a house with a 250.50 counter payment, and that payment."""
    owner = login()
    house = estate.houses[0]
    bind(owner.owner_id, house)
    bill = factories.bill(house, estate.items["WYF"], amount_fen=25_050)
    payment = Payment.create(community=estate.community, channel="cash", amount_fen=25_050,
                             payer_name="王五", received_at=PAID_AT, voucher_no=f"V{bill.id}",
                             receipt_no=f"{estate.community.code}2026{bill.id:06d}")
    Allocation.create(payment=payment, bill=bill, amount_fen=25_050)
    return owner, payment


def _link(api, owner, number) -> tuple[str, dict]:
    data = api.get(f"/api/v1/receipts/{number}", headers=owner.headers).get_json()
    parts = urlsplit(data["print_url"])
    return parts.path + "?" + parts.query, data


def test_the_receipt_json_carries_a_print_link_that_opens_the_page_without_a_token(api, api_app, paid):
    owner, payment = paid
    path, data = _link(api, owner, payment.receipt_no)
    assert data["print_url"].startswith(api_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/api/v1/receipts/")
    assert path.startswith(f"/api/v1/receipts/{payment.receipt_no}/print?t=")
    expires = dt.datetime.fromisoformat(data["print_url_expires_at"])
    assert dt.timedelta(seconds=590) <= expires - utcnow() <= dt.timedelta(seconds=600)
    page = api.get(path)                                   # no Authorization header
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for text in ("<h1>收据</h1>", payment.receipt_no, "250.50", "贰佰伍拾元伍角", "王五"):
        assert text in html, text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_an_altered_link_is_refused_with_a_403_page(api, paid):
    owner, payment = paid
    path, _ = _link(api, owner, payment.receipt_no)
    token = parse_qs(urlsplit(path).query)["t"][0]
    # Not the last character: its low bits are base64 padding, and changing only those
    # decodes to the same signature.
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    for bad in (f"/api/v1/receipts/{payment.receipt_no}/print?t={flipped}",
                f"/api/v1/receipts/{payment.receipt_no}/print?t=",
                f"/api/v1/receipts/{payment.receipt_no}/print",
                f"/api/v1/receipts/{payment.receipt_no}/print?t={token[:20]}"):
        page = api.get(bad)
        assert page.status_code == 403 and page.mimetype == "text/html", bad
        assert "收据链接无效" in page.get_data(as_text=True)
        assert payment.receipt_no not in page.get_data(as_text=True).split("</title>")[1]


def test_a_link_signed_with_another_key_or_salt_is_refused(api, api_app, paid):
    owner, payment = paid
    forged = receipt_links.sign("not-our-secret", payment.receipt_no, owner.owner_id, 1)
    assert api.get(f"/api/v1/receipts/{payment.receipt_no}/print?t={forged}").status_code == 403
    from itsdangerous import URLSafeTimedSerializer
    other_salt = URLSafeTimedSerializer(api_app.config["SECRET_KEY"], salt="itsdangerous").dumps(
        {"n": payment.receipt_no, "o": owner.owner_id, "s": 1})
    assert api.get(f"/api/v1/receipts/{payment.receipt_no}/print?t={other_salt}").status_code == 403


def test_a_link_cannot_open_another_receipt_even_of_the_same_owner(api, estate, paid):
    owner, payment = paid
    second = factories.bill(estate.houses[0], estate.items["TCF"], amount_fen=15_000)
    other = Payment.create(community=estate.community, channel="cash", amount_fen=15_000,
                           received_at=PAID_AT, voucher_no="V-other", receipt_no="OTHER2026000001")
    Allocation.create(payment=other, bill=second, amount_fen=15_000)
    path, _ = _link(api, owner, payment.receipt_no)
    swapped = path.replace(f"/receipts/{payment.receipt_no}/", "/receipts/OTHER2026000001/")
    page = api.get(swapped)
    assert page.status_code == 403 and "15,000" not in page.get_data(as_text=True)
    assert "150.00" not in page.get_data(as_text=True)


def test_an_expired_link_answers_410_with_a_page_saying_to_reopen(api, paid):
    owner, payment = paid
    path, _ = _link(api, owner, payment.receipt_no)
    with time_machine.travel(utcnow() + dt.timedelta(seconds=599), tick=False):
        assert api.get(path).status_code == 200
    with time_machine.travel(utcnow() + dt.timedelta(seconds=602), tick=False):
        page = api.get(path)
    assert page.status_code == 410 and page.mimetype == "text/html"
    assert "已过期" in page.get_data(as_text=True)


def test_the_lifetime_is_a_setting(api, api_app, paid):
    owner, payment = paid
    api_app.config["RECEIPT_LINK_TTL_SECONDS"] = 60
    path, data = _link(api, owner, payment.receipt_no)
    assert dt.datetime.fromisoformat(data["print_url_expires_at"]) - utcnow() <= dt.timedelta(seconds=60)
    with time_machine.travel(utcnow() + dt.timedelta(seconds=62), tick=False):
        assert api.get(path).status_code == 410


def test_logging_out_kills_the_links_of_that_session(api, paid):
    owner, payment = paid
    path, _ = _link(api, owner, payment.receipt_no)
    assert api.post("/api/v1/auth/logout", headers=owner.headers).status_code == 204
    page = api.get(path)
    assert page.status_code == 403 and "登录已失效" in page.get_data(as_text=True)


def test_an_owner_who_lost_the_house_no_longer_sees_the_receipt_by_link(api, paid):
    from server.property.models import Binding

    owner, payment = paid
    path, _ = _link(api, owner, payment.receipt_no)
    Binding.delete().where(Binding.owner == owner.owner_id).execute()
    page = api.get(path)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "收据不存在" in page.get_data(as_text=True) and "250.50" not in page.get_data(as_text=True)


def test_owner_b_cannot_get_a_link_to_owner_as_receipt(api, login, paid):
    _, payment = paid
    stranger = login()
    response = api.get(f"/api/v1/receipts/{payment.receipt_no}", headers=stranger.headers)
    assert response.status_code == 404 and "print_url" not in response.get_data(as_text=True)
