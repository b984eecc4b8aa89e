"""Fixtures for the WeChat Pay protocol layer: keys, a sandbox on a real port, clients, a callback sink."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from Crypto.PublicKey import RSA
from flask import Flask, request
from werkzeug.serving import make_server

from payments import crypto
from payments.certs import generate_self_signed_certificate
from payments.client import WeChatPayClient
from payments.exceptions import VerificationError
from payments.sandbox import SandboxState, run_sandbox_in_thread
from payments.sandbox.server import _QuietHandler
from payments.verifier import WeChatPayVerifier

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture(scope="session")
def key_pool():
    """RSA-2048 keys generated once per session (WeChat's platform keys, spare rotation keys)."""
    return [RSA.generate(2048) for _ in range(5)]


@dataclasses.dataclass
class Merchant:
    key: RSA.RsaKey
    cert_pem: str
    serial: str

    @property
    def key_pem(self) -> str:
        return crypto.private_key_pem(self.key)


@pytest.fixture(scope="session")
def merchant(key_pool):
    key = key_pool[2]
    pem, serial = generate_self_signed_certificate(key, common_name="1900000109 merchant API cert")
    return Merchant(key, pem, serial)


@dataclasses.dataclass
class Sandbox:
    base_url: str
    state: SandboxState

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def sandbox_options():
    """Override in a test module to start the sandbox differently."""
    return {}


@pytest.fixture
def sandbox(key_pool, merchant, sandbox_options):
    options = {"platform_key": key_pool[0], "public_key": key_pool[1], "time_compression": 1000.0,
               "refund_delay": 0.0, "bills_available_immediately": True, **sandbox_options}
    base_url, state, stop = run_sandbox_in_thread(SandboxState(**options))
    state.register_merchant_key(merchant.serial, merchant.cert_pem)
    try:
        yield Sandbox(base_url, state)
    finally:
        stop()


def public_key_verifier(state: SandboxState, **kwargs) -> WeChatPayVerifier:
    cfg = state.public_config(include_secret=True)
    return WeChatPayVerifier(apiv3_key=cfg["apiv3_key"],
                             public_keys={cfg["public_key_id"]: cfg["public_key_pem"]}, **kwargs)


@pytest.fixture
def make_client(sandbox, merchant):
    """``make_client(mode="public_key"|"certificate", **client_kwargs) -> WeChatPayClient``."""
    made = []

    def make(mode: str = "public_key", verifier=None, notify_url="https://wuyepay.test/notify",
             **kwargs) -> WeChatPayClient:
        state = sandbox.state
        kwargs.setdefault("clock", state.now)          # one simulated world clock
        if verifier is None:
            if mode == "public_key":
                verifier = public_key_verifier(state, clock=state.now)
            else:
                verifier = WeChatPayVerifier(use_platform_certificates=True, clock=state.now)
        kwargs.setdefault("timeout", (2, 5))
        kwargs.setdefault("backoff", 0.01)
        client = WeChatPayClient(state.mchid, merchant.serial, merchant.key_pem, state.apiv3_key,
                                 sandbox.base_url, verifier, state.appid, notify_url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.transport.session.close()


@pytest.fixture
def pay_client(make_client):
    """Our WeChat Pay client in public-key mode against the sandbox (not the Flask test client)."""
    return make_client()


def in_minutes(n: int = 15) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=n)


class CallbackSink:
    """Our side of callbacks: records every POST and answers with queued statuses."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []     # answers to give, in order; then 204
        self.verifier = None              # when set, unverifiable callbacks get 401 like our endpoint
        self.lock = threading.Lock()
        app = Flask("callback-sink")

        @app.post("/notify")
        def notify():
            body = request.get_data()
            if self.verifier is not None:
                try:
                    self.verifier.verify(request.headers, body)
                except VerificationError:
                    with self.lock:
                        self.received.append({"headers": dict(request.headers), "body": body, "status": 401})
                    return {"code": "FAIL", "message": "签名错误"}, 401
            with self.lock:
                status = self.statuses.pop(0) if self.statuses else 204
                self.received.append({"headers": dict(request.headers), "body": body, "status": status})
            return ("", status) if status < 300 else ({"code": "FAIL", "message": "失败"}, status)

        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def sink():
    sink = CallbackSink()
    yield sink
    sink.stop()


def _serve_live(db, sandbox, merchant, make_app, folder, **overrides):
    """Our app on a real port, configured for ``sandbox`` (see tests/payments/live.py)."""
    from server import db as dbmod
    from tests.payments.live import Live, LiveServer, NOTIFY_PATH, app_settings

    server = LiveServer()
    settings = app_settings(sandbox, merchant, folder, server.base_url + NOTIFY_PATH)
    app = make_app(db.test_url, **{**settings, **overrides})
    dbmod.database.connect(reuse_if_open=True)   # create_app rebound the proxy: use its database
    server.start(app)
    live = Live(server.base_url, app, sandbox, db)
    try:
        yield live
    finally:
        server.stop()
        live.client.transport.session.close()
        if not dbmod.database.is_closed():
            dbmod.database.close()


@pytest.fixture
def live(database, sandbox, merchant, make_app, tmp_path):
    """Our Flask app over real HTTP wired to the sandbox, on SQLite and PostgreSQL in turn."""
    yield from _serve_live(database, sandbox, merchant, make_app, tmp_path)


@pytest.fixture
def pg_live(pg_database, sandbox, merchant, make_app, tmp_path):
    """``live`` on PostgreSQL only (row locks and real concurrency)."""
    yield from _serve_live(pg_database, sandbox, merchant, make_app, tmp_path)
