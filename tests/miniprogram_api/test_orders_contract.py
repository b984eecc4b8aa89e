"""Every orders/payments operation, in its success and error answers, conforms to the document."""
from __future__ import annotations

from tests.miniprogram_api.paying import household, prepay_id
from tests.miniprogram_api.test_openapi import Checker


def test_orders_payments_and_receipts_answer_as_documented(paying, make_api):
    api = paying.api
    doc = api.get("/api/v1/openapi.json").get_json()
    check = Checker(doc)
    header = [p for p in doc["paths"]["/api/v1/orders"]["post"]["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"]) for p in header] == [("Idempotency-Key", False)]
    home = household(paying, (12_300, 4_560, 789))
    headers = home.owner.headers

    def call(method, path, url=None, **kwargs):
        kwargs.setdefault("headers", headers)
        return check(getattr(api, method)(url or path, **kwargs), method, path)

    orders, one = "/api/v1/orders", "/api/v1/orders/{out_trade_no}"
    cancel, receipts = "/api/v1/orders/{out_trade_no}/cancel", "/api/v1/receipts/{number}"
    placed = call("post", orders, json={"bill_ids": home.bill_ids[:2]},
                  headers={**headers, "Idempotency-Key": "c-1"}).get_json()
    call("post", orders, json={"bill_ids": home.bill_ids[:2]}, headers={**headers, "Idempotency-Key": "c-1"})
    call("post", orders, json={"bill_ids": home.bill_ids}, headers={**headers, "Idempotency-Key": "c-1"})
    call("post", orders, json={"bill_ids": [999_999]})
    call("post", orders, json={"bill_ids": "1"})
    call("post", orders, json={"bill_ids": [1]}, headers={})
    url = f"/api/v1/orders/{placed['out_trade_no']}"
    call("get", one, url)
    call("get", one, "/api/v1/orders/NOPE000")
    call("get", orders)
    call("get", orders, "/api/v1/orders?status=open&limit=5")
    call("get", orders, "/api/v1/orders?limit=0")
    call("post", cancel, url + "/cancel")
    call("post", cancel, "/api/v1/orders/NOPE000/cancel")
    second = call("post", orders, json={"bill_ids": home.bill_ids[2:]}).get_json()
    paying.state.set_faults(drop_callbacks=1)
    paying.state.ledger.pay(prepay_id(second))
    receipt_no = call("get", one, f"/api/v1/orders/{second['out_trade_no']}").get_json()["receipt_no"]
    call("post", cancel, f"/api/v1/orders/{second['out_trade_no']}/cancel")         # 409: paid
    call("get", "/api/v1/payments")
    call("get", "/api/v1/payments", "/api/v1/payments?limit=1&offset=0")
    call("get", "/api/v1/payments", "/api/v1/payments?limit=1000")
    call("get", receipts, f"/api/v1/receipts/{receipt_no}")
    page = api.get(f"/api/v1/receipts/{receipt_no}?format=html", headers=headers)
    assert page.status_code == 200 and "text/html" in \
        doc["paths"][receipts]["get"]["responses"]["200"]["content"]
    call("get", receipts, "/api/v1/receipts/NOPE")
    printed = "/api/v1/receipts/{number}/print"
    link = api.get(f"/api/v1/receipts/{receipt_no}", headers=headers).get_json()["print_url"]
    link = link[link.index("/api/v1/"):]
    assert call("get", printed, link, headers={}).status_code == 200
    assert call("get", printed, link + "x", headers={}).status_code == 403
    call("get", receipts, f"/api/v1/receipts/{receipt_no}?format=pdf")
    # Without a merchant configured, ordering is a documented 503, before anything is written.
    bare = make_api()
    response = bare.test_client().post(orders, json={"bill_ids": home.bill_ids}, headers=headers)
    check(response, "post", orders)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "PAYMENTS_UNAVAILABLE"
    documented = {(m, p) for p, methods in doc["paths"].items() for m, op in methods.items()
                  if op["tags"][0] in ("orders", "payments")}
    assert documented == check.seen
