"""The sandbox's world: WeChat Pay's keys, our registered merchant key, faults, clock.

Everything the simulated WeChat knows lives in one :class:`SandboxState`, shared
by the Flask app, the callback notifier and the tests.  One re-entrant lock
guards it; handlers hold it only while they read or change the state.
"""
from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
import time
from typing import Callable

from Crypto.PublicKey import RSA

from payments import crypto
from payments.certs import generate_self_signed_certificate, normalize_serial
from payments.sandbox.ledger import Ledger
from payments.sandbox.miniprogram_state import MiniProgramState
from payments.sandbox.notifier import Notifier

FOREVER = -1


@dataclasses.dataclass
class Faults:
    """Fault switches.  Counters apply to the next N events; ``-1`` means always."""

    latency: float = 0.0              # seconds added before every /v3 answer
    fail_5xx: int = 0                 # /v3 requests answered 500 SYSTEM_ERROR, no side effect
    timeout_after_create: int = 0     # prepay/refund recorded, then answered after timeout_delay
    timeout_delay: float = 3.0
    duplicate_callbacks: int = 1      # copies of every callback attempt, sent concurrently
    drop_callbacks: int = 0           # notifications never sent at all
    wrong_amount: int = 0             # TRANSACTION callbacks whose amount.total is 1 fen more
    probe_callbacks: int = 0          # callback attempts with a WECHATPAY/SIGNTEST signature
    probe_responses: int = 0          # /v3 answers with a WECHATPAY/SIGNTEST signature
    forge_responses: int = 0          # /v3 answers signed by a key WeChat does not have
    response_clock_skew: int = 0      # seconds added to answers' Wechatpay-Timestamp
    corrupt_bill_download: int = 0    # bill downloads with one byte changed
    certificates_latency: float = 0.0  # seconds added before a GET /v3/certificates answer
    fail_certificates: int = 0        # GET /v3/certificates answered 500 SYSTEM_ERROR

    COUNTERS = ("fail_5xx", "timeout_after_create", "drop_callbacks", "wrong_amount",
                "probe_callbacks", "probe_responses", "forge_responses", "corrupt_bill_download",
                "fail_certificates")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class PlatformKey:
    """A WeChat Pay signing key: a platform certificate or a ``PUB_KEY_ID_…`` public key."""

    serial: str
    kind: str                         # "certificate" | "public_key"
    private_key: RSA.RsaKey
    certificate_pem: str = ""

    @property
    def public_key_pem(self) -> str:
        return crypto.public_key_pem(self.private_key)


class SandboxState:
    """Simulated WeChat Pay + mini-program server state.

    ``response_signing``: ``"auto"`` signs an answer with the public key iff the request
    carried ``Wechatpay-Serial: PUB_KEY_ID_…`` (WeChat's migration rule, §2), else with
    the active platform certificate; ``"certificate"``/``"public_key"`` force one.
    ``callback_signing``: ``"certificate"``, ``"public_key"`` or ``"alternate"`` (both
    in turn, like WeChat's 7-day ramp).  ``time_compression`` divides callback retry
    delays (15 s … 6 h) and refund settlement delays.
    """

    def __init__(self, *, mchid: str = "1900000109", appid: str = "wxd0000000000sandbox",
                 app_secret: str = "sandbox-app-secret", apiv3_key: str | None = None,
                 platform_key: RSA.RsaKey | None = None, public_key: RSA.RsaKey | None = None,
                 public_key_id: str | None = None, response_signing: str = "auto",
                 callback_signing: str = "certificate", certificates_enabled: bool = True,
                 clock: Callable[[], float] = time.time, time_compression: float = 1.0,
                 refund_delay: float = 5.0, refund_outcome: str = "SUCCESS",
                 callback_timeout: float = 5.0, bills_available_immediately: bool = False):
        self.lock = threading.RLock()
        self.mchid, self.appid, self.app_secret = mchid, appid, app_secret
        self.apiv3_key = apiv3_key or crypto.new_nonce(32)
        self.response_signing = response_signing
        self.callback_signing = callback_signing
        self.certificates_enabled = certificates_enabled
        self._clock = clock
        self._offset = 0.0
        self.time_compression = time_compression
        self.refund_delay = refund_delay
        self.refund_outcome = refund_outcome
        self.callback_timeout = callback_timeout
        self.bills_available_immediately = bills_available_immediately
        self.faults = Faults()
        self.base_url = ""
        #: When set (demo mode), changes made over HTTP are saved here (``persist``).
        self.persist_path: str | None = None
        self.platform_keys: dict[str, PlatformKey] = {}
        self.active_certificate = self.rotate_certificate(platform_key)
        self.active_public_key = self.rotate_public_key(public_key, public_key_id)
        self.merchant_keys: dict[str, RSA.RsaKey] = {}
        self.request_log: list[dict] = []
        self.bill_files: dict[str, dict] = {}
        self.stop_event = threading.Event()
        self.ledger = Ledger(self)
        self.mp = MiniProgramState(self)
        self.notifier = Notifier(self)
        self._forge_key: RSA.RsaKey | None = None
        self._alternate = 0

    def __repr__(self) -> str:
        return f"<SandboxState mchid={self.mchid} base_url={self.base_url!r}>"

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock (codes, tokens, bills, timestamps) forward."""
        with self.lock:
            self._offset += seconds

    def wait(self, seconds: float) -> bool:
        """Sleep that ends early when the sandbox stops; True if stopped."""
        return self.stop_event.wait(seconds)

    # ----------------------------------------------------------------- faults
    def set_faults(self, **values) -> Faults:
        with self.lock:
            for name, value in values.items():
                if not hasattr(self.faults, name) or name == "COUNTERS":
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self.faults, name, type(getattr(Faults(), name))(value))
        return self.faults

    def reset_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    def take(self, name: str) -> bool:
        """Consume one occurrence of a counting fault; True if it applies now."""
        with self.lock:
            left = getattr(self.faults, name)
            if left == 0:
                return False
            if left > 0:
                setattr(self.faults, name, left - 1)
            return True

    # ------------------------------------------------------------------- keys
    def rotate_certificate(self, private_key: RSA.RsaKey | None = None) -> str:
        """Add a platform certificate and sign with it from now on; returns its serial."""
        key = private_key or RSA.generate(2048)
        pem, serial = generate_self_signed_certificate(key, common_name="Tenpay.com Sandbox")
        with self.lock:
            self.platform_keys[serial] = PlatformKey(serial, "certificate", key, pem)
            self.active_certificate = serial
        return serial

    def rotate_public_key(self, private_key: RSA.RsaKey | None = None,
                          key_id: str | None = None) -> str:
        """Add a WeChat Pay public key (``PUB_KEY_ID_…``) and sign with it from now on."""
        key = private_key or RSA.generate(2048)
        key_id = key_id or "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(34))
        with self.lock:
            self.platform_keys[key_id] = PlatformKey(key_id, "public_key", key)
            self.active_public_key = key_id
        return key_id

    def certificates(self) -> list[PlatformKey]:
        return [k for k in self.platform_keys.values() if k.kind == "certificate"]

    def register_merchant_key(self, serial_no: str, public_key) -> None:
        """Register our merchant API key (what the merchant platform holds for our
        ``apiclient_cert.pem``) so the sandbox can check our ``Authorization`` (§1)."""
        with self.lock:
            self.merchant_keys[normalize_serial(serial_no)] = crypto.load_public_key(public_key)

    def merchant_key(self, serial_no: str) -> RSA.RsaKey | None:
        with self.lock:
            return self.merchant_keys.get(normalize_serial(serial_no))

    def public_config(self, include_secret: bool = False) -> dict:
        """What our side needs to talk to this sandbox (the platform keys are public)."""
        active = self.platform_keys[self.active_public_key]
        config = {
            "mchid": self.mchid, "appid": self.appid, "base_url": self.base_url,
            "public_key_id": active.serial, "public_key_pem": active.public_key_pem,
            "certificates": [k.certificate_pem for k in self.certificates()],
            "certificate_serials": [k.serial for k in self.certificates()],
        }
        if include_secret:
            config["apiv3_key"] = self.apiv3_key
            config["app_secret"] = self.app_secret
        return config

    def signing_key(self, request_serial: str = "", for_callback: bool = False) -> PlatformKey:
        """The key that signs this answer or callback (see the class docstring)."""
        with self.lock:
            mode = self.callback_signing if for_callback else self.response_signing
            if mode == "alternate":
                self._alternate += 1
                mode = "public_key" if self._alternate % 2 == 0 else "certificate"
            if mode == "auto":
                wants_pub = request_serial.startswith("PUB_KEY_ID_")
                mode = "public_key" if wants_pub or not self.certificates_enabled else "certificate"
            serial = self.active_public_key if mode == "public_key" else self.active_certificate
            return self.platform_keys[serial]

    def forge_key(self) -> RSA.RsaKey:
        with self.lock:
            if self._forge_key is None:
                self._forge_key = RSA.generate(1024)
            return self._forge_key

    def sign_headers(self, body: bytes, *, request_serial: str = "", for_callback: bool = False,
                     probe: bool = False, forge: bool = False, skew: int = 0) -> dict:
        """The five ``Wechatpay-*`` headers for an answer or a callback (§2)."""
        key = self.signing_key(request_serial, for_callback)
        timestamp, nonce = str(int(self.now()) + skew), crypto.new_nonce(32)
        message = crypto.response_sign_message(timestamp, nonce, body)
        if probe:
            signature = crypto.PROBE_SIGNATURE_PREFIX + crypto.sign(self.forge_key(), message)[:64]
        else:
            signature = crypto.sign(self.forge_key() if forge else key.private_key, message)
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
                "Wechatpay-Serial": key.serial, "Wechatpay-Signature": signature,
                "Wechatpay-Signature-Type": crypto.SIGNATURE_TYPE}

    # ---------------------------------------------------------------- logging
    def log_request(self, method: str, path: str, body: bytes = b"") -> None:
        with self.lock:
            self.request_log.append({"method": method, "path": path, "at": self.now(),
                                     "body_sha1": hashlib.sha1(body).hexdigest()})

    def requests_to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.request_log if r["path"] == path]

    def count_requests(self, path: str, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.request_log
                       if r["path"] == path and (method is None or r["method"] == method))

    def close(self) -> None:
        """Stop the notifier and wake every sleeping fault."""
        self.stop_event.set()
        self.notifier.stop()
