"""Which WeChat Pay key signed this? Response and callback verification (wechat-pay-v3.md §2, §8).

The key is chosen by ``Wechatpay-Serial``:

* **public-key mode** — ``PUB_KEY_ID_…`` → a WeChat Pay public key configured
  from ``WECHATPAY_PUBLIC_KEY_FILE``/``WECHATPAY_PUBLIC_KEY_ID``;
* **platform-certificate mode** — the serial of a platform certificate
  downloaded from ``GET /v3/certificates``, decrypted with the APIv3 key,
  checked (serial == certificate serial, validity), cached, refreshed daily
  and, on an unknown serial, at most once a minute (RELIABILITY.md R3).
  With ``refresh_in_background`` (what :func:`payments.client.client_from_config`
  sets) the daily refresh never delays a callback that a cached, valid key
  verifies: it runs on a background thread, one at a time, and alerts when
  it keeps failing (see :mod:`payments.verifier_certs`).

Both may be active at once and each may hold several keys, so a rotation
overlap verifies with the old and the new serial (R17).  Verification checks
the timestamp (reject ``|now - ts| > 300`` s) *before* looking up the key, so
an old replay cannot trigger a certificate download, then the signature.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterable, Mapping

from Crypto.PublicKey import RSA

from payments import crypto
from payments.certs import CertificateInfo, normalize_serial, parse_certificate
from payments.exceptions import (
    DecryptError, InvalidSignature, MissingHeaders, StaleTimestamp, UnknownSerial,
)
from payments.verifier_certs import (
    PlatformCertificatesMixin, StaleAlert, header, raise_stale_certificates_alert,
)

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = 300
REFRESH_INTERVAL = 24 * 3600        # Go core/downloader/downloader_mgr.go DefaultDownloadInterval
MIN_REFRESH_INTERVAL = 60           # R3: at most one refresh per minute on an unknown serial
_REQUIRED = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")

#: ``() -> (headers, body)`` of a ``GET /v3/certificates`` answer (e.g. the client's
#: ``fetch_certificates_response``).
CertificateFetcher = Callable[[], "tuple[Mapping[str, str], bytes]"]


class WeChatPayVerifier(PlatformCertificatesMixin):
    """A thread-safe key store chosen by ``Wechatpay-Serial`` (§2)."""

    def __init__(self, *, apiv3_key: str | None = None, public_keys: Mapping[str, str] | None = None,
                 certificates: Iterable[str] = (), use_platform_certificates: bool = False,
                 fetch_certificates: CertificateFetcher | None = None,
                 clock: Callable[[], float] = time.time, max_skew: int = MAX_CLOCK_SKEW,
                 refresh_interval: float = REFRESH_INTERVAL,
                 min_refresh_interval: float = MIN_REFRESH_INTERVAL,
                 refresh_in_background: bool = False,
                 alert: StaleAlert | None = raise_stale_certificates_alert):
        self._apiv3_key = apiv3_key
        self._clock = clock
        self.max_skew = max_skew
        self.refresh_interval = refresh_interval
        self.min_refresh_interval = min_refresh_interval
        self.use_platform_certificates = use_platform_certificates
        self._fetch = fetch_certificates
        self._public_keys: dict[str, RSA.RsaKey] = {}
        self._certificates: dict[str, CertificateInfo] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._last_attempt: float | None = None
        self._last_success: float | None = None
        self.refresh_count = 0
        # Background refresh (single flight) and its failure bookkeeping.
        self.refresh_in_background = refresh_in_background
        self._alert = alert
        self._background: threading.Thread | None = None
        self._background_running = False
        self._failing_since: float | None = None
        self.refresh_failures = 0
        for key_id, pem in (public_keys or {}).items():
            self.add_public_key(key_id, pem)
        for pem in certificates:
            self.add_certificate(pem)

    def __repr__(self) -> str:          # never shows the APIv3 key
        return f"<WeChatPayVerifier serials={self.serials()}>"

    # ------------------------------------------------------------------ keys
    def add_public_key(self, key_id: str, pem: str | bytes | RSA.RsaKey) -> None:
        """Register a WeChat Pay public key (public-key mode, §2)."""
        if not key_id:
            raise ValueError("a public key needs its PUB_KEY_ID_… id")
        key = crypto.load_public_key(pem)
        with self._lock:
            self._public_keys[key_id] = key

    def remove_public_key(self, key_id: str) -> None:
        with self._lock:
            self._public_keys.pop(key_id, None)

    def add_certificate(self, pem: str | bytes) -> CertificateInfo:
        """Trust a platform certificate given out of band (e.g. a cached PEM)."""
        info = parse_certificate(pem)
        with self._lock:
            self._certificates[normalize_serial(info.serial_no)] = info
        return info

    def set_apiv3_key(self, apiv3_key: str) -> None:
        self._apiv3_key = apiv3_key

    @property
    def has_apiv3_key(self) -> bool:
        return bool(self._apiv3_key)

    def set_certificate_fetcher(self, fetch: CertificateFetcher) -> None:
        self._fetch = fetch
        self.use_platform_certificates = True

    @property
    def has_fetcher(self) -> bool:
        return self._fetch is not None

    def serials(self) -> list[str]:
        with self._lock:
            return list(self._public_keys) + [c.serial_no for c in self._certificates.values()]

    @property
    def request_serial(self) -> str | None:
        """``Wechatpay-Serial`` to send on requests: a public key id asks WeChat to sign
        the response with that key (§2 migration rules); else the newest valid certificate."""
        now = self._clock()
        with self._lock:
            if self._public_keys:
                return next(reversed(self._public_keys))
            valid = [c for c in self._certificates.values() if c.is_valid_at(now)]
        if not valid:
            return None
        return max(valid, key=lambda c: c.not_before).serial_no

    def _lookup(self, serial: str) -> RSA.RsaKey | None:
        now = self._clock()
        with self._lock:
            if serial in self._public_keys:
                return self._public_keys[serial]
            info = self._certificates.get(normalize_serial(serial))
        if info is None:
            return None
        if not info.is_valid_at(now):
            log.warning("WeChat Pay certificate %s is outside its validity", info.serial_no)
            return None
        return info.public_key

    def key_for(self, serial: str) -> RSA.RsaKey:
        """The key for ``serial``; an unknown serial refreshes certificates (≤ 1/min)."""
        key = self._lookup(serial)
        if key is None and self.use_platform_certificates and self._fetch is not None:
            self.refresh_certificates(force=False, wanted=serial)
            key = self._lookup(serial)
        if key is None:
            raise UnknownSerial(f"no valid WeChat Pay key or certificate with serial {serial}")
        return key

    # ---------------------------------------------------------- verification
    def verify(self, headers: Mapping[str, str], body: bytes | str) -> str:
        """Authenticate a response or callback; returns the serial that verified it.

        Raises :class:`MissingHeaders`, :class:`StaleTimestamp`, :class:`UnknownSerial`
        or :class:`InvalidSignature` (probe signatures included).
        """
        values = {name: header(headers, name) for name in _REQUIRED}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise MissingHeaders("missing " + ", ".join(missing))
        sig_type = header(headers, "Wechatpay-Signature-Type")
        if sig_type and sig_type != crypto.SIGNATURE_TYPE:
            raise InvalidSignature(f"unsupported Wechatpay-Signature-Type {sig_type}")
        try:
            timestamp = int(values["Wechatpay-Timestamp"])
        except ValueError:
            raise InvalidSignature("Wechatpay-Timestamp is not an integer") from None
        skew = abs(self._clock() - timestamp)
        if skew > self.max_skew:
            raise StaleTimestamp(f"Wechatpay-Timestamp is {int(skew)} s away from now")
        serial = values["Wechatpay-Serial"]
        # A cached, valid key for this serial: the daily refresh must not delay us.
        self._maybe_daily_refresh(key_held=self._lookup(serial) is not None)
        key = self.key_for(serial)
        signature = values["Wechatpay-Signature"]
        message = crypto.response_sign_message(timestamp, values["Wechatpay-Nonce"], body)
        if not crypto.verify(key, message, signature):
            probe = signature.startswith(crypto.PROBE_SIGNATURE_PREFIX)
            raise InvalidSignature("probe signature (WECHATPAY/SIGNTEST)" if probe else
                                   "signature does not verify")
        return serial

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> tuple[dict, dict]:
        """Verify a callback, then decrypt its resource (§2, §3): ``(envelope, plaintext)``.

        The envelope keeps ``resource`` without ``ciphertext`` so it can be logged.
        """
        self.verify(headers, body)
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
        except (ValueError, KeyError, TypeError):
            raise DecryptError("callback body is not a WeChat Pay notification") from None
        if envelope.get("resource_type") != "encrypt-resource" or \
                resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise DecryptError("unsupported resource_type/algorithm")
        plaintext = self.decrypt(resource)
        try:
            data = json.loads(plaintext)
        except ValueError:
            raise DecryptError("decrypted resource is not JSON") from None
        envelope["resource"] = {k: v for k, v in resource.items() if k != "ciphertext"}
        return envelope, data

    def decrypt(self, resource: Mapping[str, str]) -> bytes:
        if not self._apiv3_key:
            raise DecryptError("no APIv3 key configured")
        return crypto.aes_gcm_decrypt(self._apiv3_key, resource.get("nonce", ""),
                                      resource.get("associated_data", ""),
                                      resource.get("ciphertext", ""))
