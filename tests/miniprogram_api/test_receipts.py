"""GET /payments (history) and GET /receipts/{number} as JSON and as a printable page."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.owners.history import amount_in_words, mask
from server.property.models import Binding, BindingStatus
from server.timeutil import UTC
from tests import factories
from tests.miniprogram_api.helpers import count_queries
from tests.miniprogram_api.paying import household, prepay_id

PAID_AT = dt.datetime(2026, 3, 31, 17, 5, 9, tzinfo=UTC)      # 2026-04-01 01:05:09 in Shanghai


@pytest.mark.parametrize("fen, words", [
    (0, "零元整"), (5, "伍分"), (50, "伍角"), (100, "壹元整"), (1_001, "壹拾元零壹分"),
    (12_345, "壹佰贰拾叁元肆角伍分"), (15_500, "壹佰伍拾伍元整"), (100_005, "壹仟元零伍分"),
    (1_000_000, "壹万元整"), (10_010_000, "壹拾万零壹佰元整"), (10_000_100, "壹拾万零壹元整"),
    (100_000_000_00, "壹亿元整"), (100_010_000_00, "壹亿零壹万元整"), (100_000_000_100, "壹拾亿零壹元整"),
    (2_030_405_060_70, "贰拾亿叁仟零肆拾万伍仟零陆拾元柒角"),
])
def test_amounts_are_written_out_in_capital_chinese(fen, words):
    assert amount_in_words(fen) == words


def test_references_are_masked_but_recognisable():
    assert mask("4200001234202611231234567890") == "420000" + "*" * 18 + "7890"
    assert mask(None) is None and mask("ABCDEFGH") == "AB****GH"


def _paid_by_wechat(paying, home) -> dict:
    """Order every bill of ``home`` and pay it in the sandbox; GET finds it paid."""
    placed = paying.order(home.owner, home.bill_ids).get_json()
    paying.state.set_faults(drop_callbacks=1)
    paying.state.ledger.pay(prepay_id(placed))
    shown = paying.api.get(f"/api/v1/orders/{placed['out_trade_no']}", headers=home.owner.headers)
    assert shown.get_json()["status"] == "paid", shown.get_json()
    return shown.get_json()


def _counter_payment(home, bills, *, payer="张三", refund_fen=0) -> Payment:
    """A cash payment taken by the office, written as rows (offline payments have their tests)."""
    comm = home.estate.community
    payment = Payment.create(community=comm, channel="cash", amount_fen=sum(b.amount_fen for b in bills),
                             payer_name=payer, received_at=PAID_AT, voucher_no=f"V{bills[0].id}",
                             receipt_no=f"{comm.code}2026{bills[0].id:06d}")
    for b in bills:
        Allocation.create(payment=payment, bill=b, amount_fen=b.amount_fen)
    if refund_fen:
        Refund.create(payment=payment, bill=bills[0], out_refund_no=f"R{payment.id}", amount_fen=refund_fen,
                      reason="多收退回", status=RefundStatus.SUCCESS, succeeded_at=PAID_AT)
    return payment


def test_history_lists_online_and_counter_payments_with_bills_and_refunds(paying):
    home = household(paying, (25_000, 15_000))
    extra = factories.bill(home.house, home.estate.items["WYF"], period="2026-03", amount_fen=9_900)
    order = _paid_by_wechat(paying, home)
    cash = _counter_payment(home, [extra], refund_fen=900)
    data = paying.api.get("/api/v1/payments", headers=home.owner.headers).get_json()
    assert data["has_more"] is False
    online, counter = data["payments"]                      # newest first: the sandbox paid now
    assert online["receipt_no"] == order["receipt_no"] and online["out_trade_no"] == order["out_trade_no"]
    assert (online["channel"], online["channel_label"], online["status"]) == ("wechat", "微信支付", "paid")
    assert online["amount"] == {"fen": 40_000, "yuan": "400.00"} and online["refunds"] == []
    assert sorted(a["amount"]["fen"] for a in online["allocations"]) == [15_000, 25_000]
    assert online["community"]["name"] == home.estate.community.name
    assert (counter["receipt_no"], counter["channel_label"]) == (cash.receipt_no, "现金")
    assert counter["status"] == "partially_refunded" and counter["refunded"]["yuan"] == "9.00"
    assert counter["refunds"][0]["reason"] == "多收退回"
    assert counter["allocations"][0]["period"] == "2026-03"
    page = paying.api.get("/api/v1/payments?limit=1&offset=1", headers=home.owner.headers).get_json()
    assert [p["id"] for p in page["payments"]] == [counter["id"]] and page["has_more"] is False
    # The bills show it too: paid.
    bills = paying.api.get(f"/api/v1/houses/{home.house.id}/bills", headers=home.owner.headers).get_json()
    assert {b["id"]: b["status"] for p in bills["periods"] for b in p["bills"] if b["id"] != extra.id} == {
        home.bill_ids[0]: "paid", home.bill_ids[1]: "paid"}


def test_the_history_costs_the_same_queries_for_one_or_many_payments(paying):
    home = household(paying, (1_000, 2_000, 3_000, 4_000))

    def listed():
        with count_queries() as queries:
            data = paying.api.get("/api/v1/payments", headers=home.owner.headers).get_json()
        return len(data["payments"]), len(queries)

    _counter_payment(home, home.bills[:1], refund_fen=100)
    one, one_queries = listed()
    _counter_payment(home, home.bills[1:3], refund_fen=100)
    _counter_payment(home, home.bills[3:])
    many, many_queries = listed()
    assert (one, many) == (1, 3)
    assert one_queries == many_queries == 5, (one_queries, many_queries)


def test_the_receipt_as_json(paying):
    home = household(paying, (25_000, 15_000))
    order = _paid_by_wechat(paying, home)
    response = paying.api.get(f"/api/v1/receipts/{order['receipt_no']}", headers=home.owner.headers)
    assert response.status_code == 200 and response.mimetype == "application/json"
    receipt = response.get_json()
    payment = Payment.get(Payment.receipt_no == order["receipt_no"])
    assert receipt["amount"]["yuan"] == "400.00" and receipt["amount_in_words"] == "肆佰元整"
    assert receipt["transaction_id"] == mask(payment.transaction_id) != payment.transaction_id
    assert receipt["houses"] == [{"id": home.house.id, "label": receipt["allocations"][0]["house"]["label"]}]
    assert receipt["other"]["fen"] == 0 and receipt["payer_name"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", receipt["received_at_local"])


def test_the_receipt_as_a_printable_page(paying):
    home = household(paying, (25_000, 15_050))
    cash = _counter_payment(home, home.bills, payer="李四<b>")
    url = f"/api/v1/receipts/{cash.receipt_no}"
    page = paying.api.get(url + "?format=html", headers=home.owner.headers)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for text in ("<h1>收据</h1>", home.estate.community.name, cash.receipt_no, "2026-04-01 01:05:09",
                 "现金", "400.50", "250.00", "150.50", "肆佰元伍角", "物业费", "停车费", "2026年1月",
                 "李四&lt;b&gt;"):
        assert text in html, text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html) and "<script" not in html
    browser = paying.api.get(url, headers={**home.owner.headers,
                                           "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.mimetype == "text/html"
    assert paying.api.get(url, headers={**home.owner.headers, "Accept": "*/*"}).mimetype == "application/json"
    assert paying.api.get(url + "?format=json", headers={**home.owner.headers, "Accept": "text/html"}).is_json


def test_the_refunded_part_shows_on_the_page(paying):
    home = household(paying, (10_000,))
    cash = _counter_payment(home, home.bills, refund_fen=10_000)
    html = paying.api.get(f"/api/v1/receipts/{cash.receipt_no}?format=html",
                          headers=home.owner.headers).get_data(as_text=True)
    assert "已退款" in html and "多收退回" in html


def test_owner_a_gets_404_for_owner_bs_payments_and_receipts(paying):
    a, b = household(paying), household(paying)
    cash = _counter_payment(b, b.bills)
    order = _paid_by_wechat(paying, household(paying))
    for number in (cash.receipt_no, order["receipt_no"], "NOPE", "x" * 40, "%00"):
        for suffix in ("", "?format=html"):
            response = paying.api.get(f"/api/v1/receipts/{number}{suffix}", headers=a.owner.headers)
            assert response.status_code == 404, number
            assert response.get_json()["error"]["code"] in ("RECEIPT_NOT_FOUND", "NOT_FOUND")
    assert paying.api.get("/api/v1/payments", headers=a.owner.headers).get_json()["payments"] == []
    assert paying.api.get(f"/api/v1/receipts/{cash.receipt_no}", headers=b.owner.headers).status_code == 200


def test_a_family_member_sees_only_the_bills_of_their_own_house(paying):
    payer = household(paying, (10_000,), n_houses=2)
    second = payer.estate.houses[1]
    other_bill = factories.bill(second, payer.estate.items["WYF"], amount_fen=7_000)
    cash = _counter_payment(payer, [payer.bills[0], other_bill])
    member = paying.login()
    Binding.create(owner=member.owner_id, house=second, role="family", verified_by="import",
                   status=BindingStatus.ACTIVE)
    seen = paying.api.get(f"/api/v1/receipts/{cash.receipt_no}", headers=member.headers).get_json()
    assert [a["bill_id"] for a in seen["allocations"]] == [other_bill.id]
    assert seen["amount"]["fen"] == 17_000 and seen["other"]["fen"] == 10_000
    page = paying.api.get(f"/api/v1/receipts/{cash.receipt_no}?format=html", headers=member.headers)
    assert "其他款项" in page.get_data(as_text=True)
