"""Paying through the owner API: our app on a real port, wired to the WeChat sandbox
(mini-program and WeChat Pay), so callbacks reach ``/payments/wechatpay/notify``.

``paying`` serves the app over HTTP (``requests``) and also hands out its Flask
test client for in-process calls (query counting); both share one database.
"""
from __future__ import annotations

import dataclasses
import uuid

import pytest
import requests
from Crypto.PublicKey import RSA

from payments.certs import generate_self_signed_certificate
from payments.gateway import client_for
from payments.models import PaymentOrder
from server import db as dbmod
from server.property.models import Binding, BindingStatus
from tests import factories
from tests.payments.conftest import Merchant
from tests.payments.live import NOTIFY_PATH, LiveServer, app_settings


@pytest.fixture(scope="session")
def api_merchant() -> Merchant:
    key = RSA.generate(2048)
    pem, serial = generate_self_signed_certificate(key, common_name="1900000109 owner-api tests")
    return Merchant(key, pem, serial)


@dataclasses.dataclass
class Owner:
    owner_id: int
    token: str
    openid: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@dataclasses.dataclass
class Paying:
    base_url: str
    app: object
    sandbox: object       # tests.miniprogram_api.conftest.Sandbox
    merchant: Merchant

    @property
    def api(self):
        """The Flask test client of the same app (in-process, for query counts)."""
        return self.app.test_client()

    @property
    def state(self):
        return self.sandbox.state

    @property
    def pay_client(self):
        return client_for(self.app.extensions["wuyepay_config"])

    def url(self, path: str) -> str:
        return self.base_url + path

    def login(self, openid: str | None = None) -> Owner:
        openid = openid or f"oPAY{uuid.uuid4().hex[:24]}"
        response = self.api.post("/api/v1/auth/login", json={"code": self.sandbox.login_code(openid)})
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        return Owner(data["owner"]["id"], data["token"], openid)

    def order(self, owner: Owner, bill_ids, key: str | None = None):
        headers = dict(owner.headers)
        if key:
            headers["Idempotency-Key"] = key
        return self.api.post("/api/v1/orders", json={"bill_ids": list(bill_ids)}, headers=headers)


@pytest.fixture
def paying(database, make_app, sandbox, api_merchant, tmp_path):
    sandbox.state.register_merchant_key(api_merchant.serial, api_merchant.cert_pem)
    sandbox.state.reset_faults()
    server = LiveServer()
    settings = app_settings(sandbox, api_merchant, tmp_path, server.base_url + NOTIFY_PATH)
    app = make_app(database.test_url, **settings)
    dbmod.database.connect(reuse_if_open=True)   # create_app rebound the proxy: use its database
    server.start(app)
    paying = Paying(server.base_url, app, sandbox, api_merchant)
    try:
        yield paying
    finally:
        sandbox.state.reset_faults()
        server.stop()
        paying.pay_client.transport.session.close()
        if not dbmod.database.is_closed():
            dbmod.database.close()


@dataclasses.dataclass
class Household:
    owner: Owner
    house: object
    bills: list
    estate: object

    @property
    def bill_ids(self) -> list[int]:
        return [b.id for b in self.bills]


def household(paying: Paying, amounts=(25_000, 15_000), n_houses: int = 1) -> Household:
    """A logged-in owner bound to a house with one unpaid bill per amount."""
    estate = factories.estate(n_houses, water=False)
    house = estate.houses[0]
    owner = paying.login()
    Binding.create(owner=owner.owner_id, house=house, role="owner", verified_by="import",
                   status=BindingStatus.ACTIVE)
    items = [estate.items["WYF"], estate.items["TCF"]]
    bills = [factories.bill(house, items[i % 2], period=f"2026-{i // 2 + 1:02d}", amount_fen=amount)
             for i, amount in enumerate(amounts)]
    return Household(owner, house, bills, estate)


def prepay_id(order_json: dict) -> str:
    return order_json["payment"]["package"].removeprefix("prepay_id=")


def order_row(out_trade_no: str) -> PaymentOrder:
    return PaymentOrder.get(PaymentOrder.out_trade_no == out_trade_no)


def http(method: str, url: str, owner: Owner | None = None, **kwargs) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if owner is not None:
        headers.update(owner.headers)
    return requests.request(method, url, headers=headers, timeout=15, **kwargs)
