"""The whole owner journey, nothing but HTTP: our app on a real port, the WeChat sandbox
on another, every answer checked against the OpenAPI document.

log in (a sandbox wx.login code) → bind by phone (getPhoneNumber code) → list bills →
order two bills → wx.requestPayment at the sandbox (paySign checked) → the signed
callback reaches /payments/wechatpay/notify → GET order shows paid with a receipt →
the receipt as JSON and as a page → the bills are paid and the payment is in the history.
"""
from __future__ import annotations

import re
import uuid

import jsonschema
import requests

from payments.models import NotifyEvent
from server.ledger.models import Payment
from server.property.models import House
from tests import factories
from tests.payments.live import wait_until

PHONE = "13912345678"


class Contract:
    """Checks each answer against the document, as a client generated from it would."""

    def __init__(self, base_url: str):
        self.doc = requests.get(base_url + "/api/v1/openapi.json", timeout=10).json()

    def __call__(self, response: requests.Response, method: str, path: str) -> requests.Response:
        operation = self.doc["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, path, status, response.text[:500])
        media = response.headers.get("Content-Type", "").split(";")[0]
        content = operation["responses"][status].get("content", {})
        if media == "application/json":
            schema = dict(content[media]["schema"], components=self.doc["components"])
            jsonschema.Draft202012Validator(schema).validate(response.json())
        else:
            assert media in content or (not content and not response.content), (path, media)
        return response


def test_an_owner_pays_two_bills_from_login_to_receipt(paying):
    estate = factories.estate(2, water=False)
    house = estate.houses[0]
    House.update(owner_phone=PHONE, owner_name="王五").where(House.id == house.id).execute()
    factories.bill(house, estate.items["WYF"], period="2026-01", amount_fen=25_000)
    factories.bill(house, estate.items["TCF"], period="2026-01", amount_fen=15_000)
    factories.bill(estate.houses[1], estate.items["WYF"], amount_fen=99_999)   # a neighbour's
    api = requests.Session()
    check = Contract(paying.base_url)

    def call(method: str, path: str, url: str | None = None, **kwargs) -> requests.Response:
        response = api.request(method, paying.url(url or path), timeout=30, **kwargs)
        return check(response, method, path)

    # 1. wx.login() → POST /auth/login
    login = call("post", "/api/v1/auth/login", json={"code": paying.sandbox.login_code()})
    assert login.status_code == 200, login.text
    api.headers["Authorization"] = f"Bearer {login.json()['token']}"

    # 2. getPhoneNumber → bind every house registered under that phone
    bound = call("post", "/api/v1/houses/bind",
                 json={"method": "phone", "phone_code": paying.sandbox.phone_code(PHONE)})
    assert bound.status_code == 200 and bound.json()["status"] == "active", bound.text
    houses = call("get", "/api/v1/houses").json()["houses"]
    assert [h["id"] for h in houses] == [house.id] and houses[0]["balance"]["yuan"] == "400.00"

    # 3. the bills, itemized
    bills_path = "/api/v1/houses/{house_id}/bills"
    listed = call("get", bills_path, f"/api/v1/houses/{house.id}/bills?status=open").json()
    bill_ids = [b["id"] for p in listed["periods"] for b in p["bills"]]
    assert len(bill_ids) == 2 and listed["totals"]["balance"]["fen"] == 40_000

    # 4. order both; a retry with the same key is the same order
    key = str(uuid.uuid4())
    placed = call("post", "/api/v1/orders", json={"bill_ids": bill_ids},
                  headers={"Idempotency-Key": key})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["total"] == {"fen": 40_000, "yuan": "400.00"} and order["status"] == "paying"
    retried = call("post", "/api/v1/orders", json={"bill_ids": bill_ids}, headers={"Idempotency-Key": key})
    assert retried.status_code == 200 and retried.json()["out_trade_no"] == order["out_trade_no"]

    # 5. wx.requestPayment: the sandbox checks paySign with our merchant key, then pays
    cashier = paying.sandbox.base_url + "/sandbox/request-payment"
    forged = dict(order["payment"], paySign=order["payment"]["paySign"][::-1])
    assert requests.post(cashier, json={**forged, "outcome": "success"}, timeout=10).status_code == 400
    paid = requests.post(cashier, json={**retried.json()["payment"], "outcome": "success"}, timeout=10)
    assert paid.json() == {"errMsg": "requestPayment:ok"}, paid.text

    # 6. WeChat's signed callback reaches our endpoint and is applied
    notifier = paying.state.notifier

    def delivered() -> bool:
        return any(n["delivered"] and n["plaintext"].get("out_trade_no") == order["out_trade_no"]
                   for n in list(notifier.notifications.values()))
    assert wait_until(delivered, timeout=15)
    assert wait_until(lambda: NotifyEvent.select().where(NotifyEvent.status == "applied").count() == 1)
    assert Payment.get().raw == {"source": "notify"}

    # 7. back from the cashier: the order is paid, with a receipt number
    order_path = "/api/v1/orders/{out_trade_no}"
    shown = call("get", order_path, f"/api/v1/orders/{order['out_trade_no']}").json()
    assert shown["status"] == "paid" and shown["paid_at"]
    receipt_no = shown["receipt_no"]
    assert re.fullmatch(rf"{estate.community.code}\d{{4}}000001", receipt_no)

    # 8. the receipt, as JSON and as the printable page
    receipt_path = "/api/v1/receipts/{number}"
    receipt = call("get", receipt_path, f"/api/v1/receipts/{receipt_no}").json()
    assert receipt["amount"]["yuan"] == "400.00" and receipt["amount_in_words"] == "肆佰元整"
    assert receipt["channel_label"] == "微信支付" and receipt["out_trade_no"] == order["out_trade_no"]
    assert sorted(a["bill_id"] for a in receipt["allocations"]) == sorted(bill_ids)
    page = call("get", receipt_path, f"/api/v1/receipts/{receipt_no}?format=html")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "收据" in page.text and receipt_no in page.text and "400.00" in page.text

    # 9. the bills are paid, the history has the payment
    after = call("get", bills_path, f"/api/v1/houses/{house.id}/bills").json()
    assert {b["status"] for p in after["periods"] for b in p["bills"]} == {"paid"}
    assert after["totals"]["balance"]["fen"] == 0
    history = call("get", "/api/v1/payments").json()["payments"]
    assert [p["receipt_no"] for p in history] == [receipt_no]
    orders = call("get", "/api/v1/orders").json()["orders"]
    assert [(o["out_trade_no"], o["status"]) for o in orders] == [(order["out_trade_no"], "paid")]
    api.close()
