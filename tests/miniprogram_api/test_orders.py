"""POST/GET /orders and cancel: prepay at the sandbox, idempotency, isolation, refresh from WeChat."""
from __future__ import annotations

import datetime as dt

from payments import crypto
from payments.models import OrderStatus, PaymentOrder
from payments.orders import create_order
from server.timeutil import utcnow
from tests.miniprogram_api.helpers import count_queries
from tests.miniprogram_api.paying import household, order_row, prepay_id


def _money(fen: int) -> dict:
    return {"fen": fen, "yuan": f"{fen // 100}.{fen % 100:02d}"}


def test_ordering_two_bills_gives_the_order_and_signed_payment_parameters(paying):
    home = household(paying, (25_000, 15_050))
    response = paying.order(home.owner, home.bill_ids, key="k-1")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["status"] == "paying" and data["total"] == _money(40_050)
    assert data["receipt_no"] is None and data["paid_at"] is None
    # Lines by period, then fee item code (TCF 停车费 before WYF 物业费).
    assert [(line["bill_id"], line["amount"]["fen"], line["period"]) for line in data["lines"]] == [
        (home.bills[1].id, 15_050, "2026-01"), (home.bills[0].id, 25_000, "2026-01")]
    assert {line["fee_item"]["name"] for line in data["lines"]} == {"物业费", "停车费"}
    assert data["lines"][0]["house"]["id"] == home.house.id
    expires = dt.datetime.fromisoformat(data["expires_at"])
    assert dt.timedelta(minutes=14) < expires - utcnow() <= dt.timedelta(minutes=15)
    payment = data["payment"]
    assert set(payment) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    message = (f"{paying.state.appid}\n{payment['timeStamp']}\n{payment['nonceStr']}\n"
               f"{payment['package']}\n")
    assert crypto.verify(paying.merchant.key.publickey(), message, payment["paySign"])
    at_wechat = paying.state.ledger.get(data["out_trade_no"])
    assert at_wechat.prepay_id == prepay_id(data) and at_wechat.total == 40_050
    # The bills now show the order that holds them.
    bills = paying.api.get(f"/api/v1/houses/{home.house.id}/bills", headers=home.owner.headers).get_json()
    assert {b["open_order"] for p in bills["periods"] for b in p["bills"]} == {data["out_trade_no"]}


def test_the_same_key_and_bills_give_the_same_order_back_with_200(paying):
    home = household(paying)
    first = paying.order(home.owner, home.bill_ids, key="same-key").get_json()
    again = paying.order(home.owner, list(reversed(home.bill_ids)), key="same-key")
    assert again.status_code == 200
    assert again.get_json()["out_trade_no"] == first["out_trade_no"]
    assert prepay_id(again.get_json()) == prepay_id(first)          # one prepay at WeChat
    assert PaymentOrder.select().count() == 1
    # The same bills without a key while the order is open: the same order too.
    assert paying.order(home.owner, home.bill_ids).get_json()["out_trade_no"] == first["out_trade_no"]


def test_the_same_key_with_other_bills_is_409(paying):
    home = household(paying)
    paying.order(home.owner, home.bill_ids[:1], key="reused")
    response = paying.order(home.owner, home.bill_ids, key="reused")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    held = paying.order(home.owner, home.bill_ids, key="another")
    assert held.status_code == 409 and held.get_json()["error"]["code"] == "BILL_IN_OPEN_ORDER"


def test_bad_input_is_422(paying):
    home = household(paying)
    for body in ({"bill_ids": []}, {"bill_ids": [home.bill_ids[0]] * 2}, {"bill_ids": ["1"]},
                 {"bill_ids": home.bill_ids, "amount": 1}, {}):
        response = paying.api.post("/api/v1/orders", json=body, headers=home.owner.headers)
        assert response.status_code == 422, (body, response.get_json())
    for key in ("x" * 65, "有中文", "a b", " "):
        response = paying.api.post("/api/v1/orders", json={"bill_ids": home.bill_ids},
                                   headers={**home.owner.headers, "Idempotency-Key": key})
        assert response.status_code == 422, key
    assert PaymentOrder.select().where(PaymentOrder.idempotency_key.is_null(False)).count() == 0


def test_bills_that_are_not_mine_are_404(paying):
    mine, theirs = household(paying), household(paying)
    response = paying.order(mine.owner, [mine.bill_ids[0], theirs.bill_ids[0]])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "BILL_NOT_FOUND"
    assert PaymentOrder.select().count() == 0


def test_cancelling_releases_the_bills_for_a_new_order(paying):
    home = household(paying)
    placed = paying.order(home.owner, home.bill_ids).get_json()
    url = f"/api/v1/orders/{placed['out_trade_no']}/cancel"
    cancelled = paying.api.post(url, headers=home.owner.headers)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["status"] == "closed" and cancelled.get_json()["closed_at"]
    assert paying.api.post(url, headers=home.owner.headers).get_json()["status"] == "closed"
    again = paying.order(home.owner, home.bill_ids)
    assert again.status_code == 201 and again.get_json()["out_trade_no"] != placed["out_trade_no"]


def test_an_order_paid_without_a_callback_is_found_paid_by_get(paying):
    home = household(paying)
    placed = paying.order(home.owner, home.bill_ids).get_json()
    paying.state.set_faults(drop_callbacks=1)
    paying.state.ledger.pay(prepay_id(placed))
    url = f"/api/v1/orders/{placed['out_trade_no']}"
    shown = paying.api.get(url, headers=home.owner.headers).get_json()
    assert shown["status"] == "paid" and shown["receipt_no"] and shown["paid_at"]
    cancel = paying.api.post(url + "/cancel", headers=home.owner.headers)
    assert cancel.status_code == 409 and cancel.get_json()["error"]["code"] == "ORDER_ALREADY_PAID"
    replay = paying.order(home.owner, home.bill_ids)
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "BILL_NOT_PAYABLE"


def test_get_while_unknown_asks_wechat_and_shows_the_answer(paying):
    home = household(paying, (8_800,))
    client = paying.pay_client
    client.transport.timeout, client.transport.backoff = (2, 0.3), 0.01
    paying.state.set_faults(timeout_after_create=-1, timeout_delay=1.0)
    response = paying.order(home.owner, home.bill_ids, key="slow")
    assert response.status_code == 503, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "PAYMENT_PENDING"
    out_trade_no = error["details"]["out_trade_no"]
    assert order_row(out_trade_no).status == OrderStatus.UNKNOWN
    paying.state.reset_faults()
    query_path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}"
    before = len(paying.state.requests_to(query_path))

    shown = paying.api.get(f"/api/v1/orders/{out_trade_no}", headers=home.owner.headers).get_json()

    assert len(paying.state.requests_to(query_path)) == before + 1
    assert shown["status"] == "paying"                  # WeChat has it, unpaid: NOTPAY
    # Within a few seconds of that answer, a second look does not ask again.
    paying.api.get(f"/api/v1/orders/{out_trade_no}", headers=home.owner.headers)
    assert len(paying.state.requests_to(query_path)) == before + 1
    # Ordering again with the same key resumes the same WeChat order.
    resumed = paying.order(home.owner, home.bill_ids, key="slow")
    assert resumed.status_code == 200 and resumed.get_json()["out_trade_no"] == out_trade_no
    assert resumed.get_json()["payment"]["package"].startswith("prepay_id=")
    assert PaymentOrder.select().count() == 1


def test_an_expired_order_holding_the_bills_is_closed_and_replaced(paying):
    home = household(paying)
    stale, _ = create_order(home.owner.owner_id, home.bill_ids, now=utcnow() - dt.timedelta(minutes=20))
    response = paying.order(home.owner, home.bill_ids)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["out_trade_no"] != stale.out_trade_no
    assert PaymentOrder.get_by_id(stale.id).status == OrderStatus.CLOSED


def test_owner_a_gets_404_for_owner_bs_orders(paying):
    a, b = household(paying), household(paying)
    placed = paying.order(b.owner, b.bill_ids).get_json()
    for method, path in (("get", ""), ("post", "/cancel")):
        url = f"/api/v1/orders/{placed['out_trade_no']}{path}"
        response = getattr(paying.api, method)(url, headers=a.owner.headers)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "ORDER_NOT_FOUND"
    assert order_row(placed["out_trade_no"]).status == OrderStatus.PAYING
    for odd in ("x", "a" * 33, "WY..", "%00abcdef"):
        assert paying.api.get(f"/api/v1/orders/{odd}", headers=a.owner.headers).status_code == 404
    assert paying.api.get("/api/v1/orders", headers=a.owner.headers).get_json() == {"orders": []}


def test_the_order_list_costs_the_same_queries_for_one_or_many(paying):
    home = household(paying, (1_000, 2_000, 3_000, 4_000))
    owner = home.owner
    create_order(owner.owner_id, home.bill_ids[:1])

    def listed():
        with count_queries() as queries:
            data = paying.api.get("/api/v1/orders?limit=50", headers=owner.headers).get_json()
        return len(data["orders"]), len(queries)

    one, one_queries = listed()
    for bill_id in home.bill_ids[1:]:
        create_order(owner.owner_id, [bill_id])
    many, many_queries = listed()
    assert (one, many) == (1, 4)
    assert one_queries == many_queries == 3, (one_queries, many_queries)
    assert paying.api.get("/api/v1/orders?status=closed", headers=owner.headers).get_json() == {"orders": []}
    assert len(paying.api.get("/api/v1/orders?status=open&limit=2",
                              headers=owner.headers).get_json()["orders"]) == 2


def test_order_creation_is_rate_limited_per_owner(paying):
    paying.app.config["RATELIMIT_ORDER_CREATION"] = "2 per minute"
    home, other = household(paying, (1_000, 2_000, 3_000)), household(paying)
    statuses = [paying.order(home.owner, [bill_id]).status_code for bill_id in home.bill_ids]
    assert statuses == [201, 201, 429]
    limited = paying.order(home.owner, home.bill_ids[2:])
    assert limited.get_json()["error"]["code"] == "RATE_LIMITED" and "Retry-After" in limited.headers
    assert paying.order(other.owner, other.bill_ids).status_code == 201
