"""Our Flask app served over real HTTP, wired to the sandbox, and what the end-to-end tests share.

The sandbox's signed, encrypted callbacks reach ``POST /payments/wechatpay/notify``
on a real port; the test drives the domain services (``create_order``,
``start_payment``, ``sync_order``…) with the app's own WeChat Pay client, so
both directions are real HTTP with real signatures.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import requests
from werkzeug.serving import make_server

from payments import crypto
from payments.gateway import client_for
from payments.models import NotifyEvent, PaymentOrder
from payments.orders import create_order
from payments.sandbox.ledger import rfc3339
from payments.sandbox.server import _QuietHandler
from payments.service import start_payment
from server import db as dbmod
from server.audit import Actor
from server.ledger.models import Allocation, Payment, ReceiptCounter
from server.models import ALL_MODELS
from server.property.models import Binding, Owner
from tests import factories as f
from tests.payments.conftest import OPENID

NOTIFY_PATH = "/payments/wechatpay/notify"


def _not_ready(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


class LiveServer:
    """A threaded werkzeug server on a random port; the app is mounted once it exists
    (its configuration needs the server's own URL for ``WECHATPAY_NOTIFY_URL``)."""

    def __init__(self):
        self.server = make_server("127.0.0.1", 0, _not_ready, threaded=True,
                                  request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="wuyepay-live", daemon=True)

    def start(self, app) -> None:
        self.server.app = app
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


def app_settings(sandbox, merchant, folder, notify_url: str) -> dict:
    """``make_app`` overrides pointing our app at the sandbox (keys written to ``folder``)."""
    public = sandbox.state.public_config(include_secret=True)
    key_file = folder / "apiclient_key.pem"
    key_file.write_text(merchant.key_pem)
    key_file.chmod(0o600)
    pub_file = folder / "wechatpay_public_key.pem"
    pub_file.write_text(public["public_key_pem"])
    return {
        "WECHATPAY_API_BASE": sandbox.base_url, "WECHAT_API_BASE": sandbox.base_url,
        "WECHATPAY_MCHID": public["mchid"], "WECHAT_APPID": public["appid"],
        "WECHATPAY_MERCHANT_SERIAL": merchant.serial, "WECHATPAY_PRIVATE_KEY_FILE": str(key_file),
        "WECHATPAY_APIV3_KEY": public["apiv3_key"], "WECHATPAY_PUBLIC_KEY_FILE": str(pub_file),
        "WECHATPAY_PUBLIC_KEY_ID": public["public_key_id"], "WECHATPAY_NOTIFY_URL": notify_url,
    }


@dataclasses.dataclass
class Live:
    """Our server + the sandbox it talks to."""

    base_url: str
    app: object
    sandbox: object
    db: object

    @property
    def state(self):
        return self.sandbox.state

    @property
    def config(self):
        return self.app.extensions["wuyepay_config"]

    @property
    def client(self):
        """The app's own WeChat Pay client (the endpoint's verifier lives in it)."""
        return client_for(self.config)

    @property
    def notify_url(self) -> str:
        return self.base_url + NOTIFY_PATH

    def post_callback(self, body: bytes, headers: dict) -> requests.Response:
        return requests.post(self.notify_url, data=body, headers=headers, timeout=10)


# --------------------------------------------------------------------------- data
@dataclasses.dataclass
class Bills:
    owner: Owner
    house: object
    bills: list
    staff: Actor
    approver: Actor

    @property
    def ids(self) -> list[int]:
        return [b.id for b in self.bills]


def owner_with_bills(amounts=(12_000, 3_500), openid: str = OPENID) -> Bills:
    """A community, one house bound to an owner, and one unpaid bill per amount."""
    comm = f.community()
    house = f.house(comm)
    item = f.fee_item(comm, "WYF", "物业费")
    bills = [f.bill(house, item, period=f"2025-{i + 1:02d}", amount_fen=amount)
             for i, amount in enumerate(amounts)]
    owner = Owner.create(openid=openid)
    Binding.create(owner=owner, house=house, verified_by="staff")
    return Bills(owner, house, bills, f.staff_actor(), f.staff_actor())


def new_order(bills: Bills, **kwargs) -> PaymentOrder:
    order, _ = create_order(bills.owner.id, bills.ids, **kwargs)
    return order


def prepaid(live: Live, bills: Bills, **kwargs) -> tuple[PaymentOrder, str]:
    """An order with a prepay at the sandbox; returns ``(order, prepay_id)``."""
    order = new_order(bills, **kwargs)
    params = start_payment(order, live.client, bills.owner.openid)
    return reload(order), params["package"].removeprefix("prepay_id=")


def reload(instance):
    return type(instance).get_by_id(instance.id)


def wait_until(predicate, timeout: float = 8.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def order_status(order) -> str:
    return PaymentOrder.select(PaymentOrder.status).where(PaymentOrder.id == order.id).scalar()


def wait_for_status(order, status: str, timeout: float = 8.0) -> bool:
    return wait_until(lambda: order_status(order) == status, timeout)


def events_settled(count: int = 1) -> bool:
    """``count`` callbacks stored and none still being processed."""
    rows = list(NotifyEvent.select(NotifyEvent.status))
    return len(rows) >= count and all(r.status not in ("received",) for r in rows)


# ----------------------------------------------------------------------- callbacks
def envelope_for(state, event_type: str, plaintext: dict, notification_id: str | None = None) -> bytes:
    """A notification body exactly like the sandbox's notifier builds (§3)."""
    original_type = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    nonce = crypto.new_resource_nonce()
    return crypto.serialize_body({
        "id": notification_id or str(uuid.uuid4()), "create_time": rfc3339(state.now()),
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功",
        "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": crypto.aes_gcm_encrypt(state.apiv3_key, nonce, original_type,
                                                         crypto.serialize_body(plaintext)),
                     "associated_data": original_type, "nonce": nonce}})


def callback_headers(state, body: bytes, **sign) -> dict:
    """Fresh ``Wechatpay-*`` headers as WeChat would send them (``probe``/``forge``/``skew``)."""
    return {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0",
            **state.sign_headers(body, for_callback=True, **sign)}


def success_plaintext(state, out_trade_no: str) -> dict:
    """What WeChat would say about a paid order (the sandbox's own Transaction object)."""
    return state.ledger.transaction(state.ledger.get(out_trade_no))


# --------------------------------------------------------------------------- checks
def row_counts() -> dict[str, int]:
    """Rows in every table: a callback refused before verification must change none."""
    return {m._meta.table_name: m.select().count() for m in ALL_MODELS}


def money_summary(order) -> dict:
    payments = list(Payment.select().where(Payment.order == order.id))
    return {"payments": len(payments),
            "allocations": Allocation.select().join(Payment).where(Payment.order == order.id).count(),
            "receipts": sum(1 for p in payments if p.receipt_no),
            "counter": ReceiptCounter.select().where(ReceiptCounter.community == order.community_id)
            .first()}


def run_together(functions, timeout: float = 30.0) -> list:
    """Start one thread per function, release them at once (Barrier); results or exceptions.

    Each thread closes its own database connection before it ends.
    """
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(index, fn):
        try:
            barrier.wait(timeout=10)
            results[index] = fn()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            if not dbmod.database.is_closed():
                dbmod.database.close()

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a concurrent call did not finish"
    return results
