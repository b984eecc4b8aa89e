"""Platform-certificate mode of :class:`payments.verifier.WeChatPayVerifier` (wechat-pay-v3.md §8).

Download ``GET /v3/certificates``, decrypt each certificate with the APIv3 key,
check serial and validity, cache; refresh daily and, on an unknown serial, at
most once a minute however many threads ask (RELIABILITY.md R3).

The daily refresh is due while a callback's serial is already cached and
valid: with ``refresh_in_background`` it then runs on a daemon thread (one at a
time, at most one attempt a minute) and the callback is verified at once with
the cached key, however slow or broken WeChat's ``/v3/certificates`` is.  Only
an unknown serial, and a process's first use (no download attempted yet),
wait for a download, as before.  A thread in each process,
not a scheduled job: the cache lives in each web and worker process's memory,
and a job would refresh only the worker that ran it.  When the refresh keeps
failing (last success ≥ 36 h ago, or the newest certificate expires within
7 days) the background thread raises a deduplicated alert; never the request
path, which must write nothing for a callback it refuses (R3).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from typing import Callable, Mapping

from payments import crypto
from payments.certs import CertificateInfo, normalize_serial, parse_certificate
from payments.exceptions import (
    DecryptError, InvalidSignature, StaleTimestamp, UnknownSerial, WeChatPayError,
)

log = logging.getLogger("payments.verifier")

STALE_AFTER = 36 * 3600             # no successful refresh for this long → alert
EXPIRY_WARNING = 7 * 24 * 3600      # newest certificate expiring this soon, refresh failing → alert
ALERT_KIND = "wechatpay_certificates_stale"
ALERT_DEDUPE_KEY = "wechatpay_certificates_stale"

#: ``(message, details) -> None``: tell a person the certificate cache is going stale.
StaleAlert = Callable[[str, dict], None]


def raise_stale_certificates_alert(message: str, details: dict) -> None:
    """The default :data:`StaleAlert`: a critical staff alert, folded into the open one."""
    from server import db
    from server.alerts import Severity, raise_alert

    with db.connection():
        raise_alert(ALERT_KIND, message, severity=Severity.CRITICAL, details=details,
                    dedupe_key=ALERT_DEDUPE_KEY)


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup that also works on a plain ``dict``."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or ""


class PlatformCertificatesMixin:
    """Needs ``_apiv3_key``, ``_clock``, ``_fetch``, ``_lock``, ``_refresh_lock``,
    ``_certificates``, ``_public_keys``, ``_lookup``, ``max_skew``, ``_alert`` and the
    refresh bookkeeping attributes (see ``WeChatPayVerifier.__init__``)."""

    # ------------------------------------------------- platform certificates
    def _maybe_daily_refresh(self, key_held: bool = False) -> None:
        """Refresh if the daily refresh is due: on this thread, or, when the caller
        already holds a valid key and ``refresh_in_background`` is set, on another.
        The process's very first download (nothing attempted yet) stays on this thread."""
        if not (self.use_platform_certificates and self._fetch is not None):
            return
        last = self._last_success
        if last is None or self._clock() - last >= self.refresh_interval:
            if key_held and self.refresh_in_background and self._last_attempt is not None:
                self.start_background_refresh()
            else:
                self.refresh_certificates(force=False)

    def start_background_refresh(self) -> bool:
        """Start a refresh on a daemon thread; ``False`` if one is running or one was
        attempted less than ``min_refresh_interval`` ago.  Never waits for the download."""
        if self._fetch is None:
            return False
        now = self._clock()
        with self._lock:
            if self._background_running:
                return False
            if self._last_attempt is not None and now - self._last_attempt < self.min_refresh_interval:
                return False
            self._background_running = True
            thread = threading.Thread(target=self._background_refresh, daemon=True,
                                      name="wechatpay-certificate-refresh")
            self._background = thread
        thread.start()
        return True

    def wait_for_background_refresh(self, timeout: float | None = None) -> bool:
        """Wait for the running background refresh (tests, shutdown); True if none is left."""
        thread = self._background
        if thread is not None:
            thread.join(timeout)
        return not self._background_running

    def _background_refresh(self) -> None:
        try:
            if not self.refresh_certificates(force=False):
                self.alert_if_stale()
        except Exception:  # noqa: BLE001 - a daemon thread has no one else to tell
            log.exception("WeChat Pay background certificate refresh crashed")
        finally:
            with self._lock:
                self._background_running = False

    def stale_reason(self, now: float | None = None) -> str | None:
        """Why the certificate cache needs a person (refresh failing and the cache old or
        about to expire), or ``None``.  A public-key merchant without certificates never does."""
        if self._failing_since is None:
            return None
        now = self._clock() if now is None else now
        with self._lock:
            certificates = list(self._certificates.values())
            has_public_keys = bool(self._public_keys)
        if not certificates and has_public_keys:
            return None
        since = self._last_success if self._last_success is not None else self._failing_since
        if now - since >= STALE_AFTER:
            return f"微信支付平台证书已 {int((now - since) // 3600)} 小时未能更新"
        if certificates:
            expires = max(c.not_after for c in certificates)
            left = expires - dt.datetime.fromtimestamp(now, dt.timezone.utc)
            if left.total_seconds() <= EXPIRY_WARNING:
                return f"微信支付平台证书将于 {expires:%Y-%m-%d %H:%M} UTC 过期，且更新失败"
        return None

    def alert_if_stale(self) -> bool:
        """Raise the stale-certificates alert if :meth:`stale_reason` says so."""
        reason = self.stale_reason()
        if reason is None or self._alert is None:
            return False
        details = {"last_success": self._last_success, "failing_since": self._failing_since,
                   "failures": self.refresh_failures, "serials": self.serials()}
        log.error("WeChat Pay certificate refresh keeps failing: %s", reason)
        try:
            self._alert(reason, details)
        except Exception:  # noqa: BLE001 - the alert store itself may be down
            log.exception("could not record the stale WeChat Pay certificates alert")
            return False
        return True

    def refresh_certificates(self, force: bool = False, wanted: str | None = None) -> bool:
        """Download and install certificates; ``False`` when skipped (rate limit) or failed.

        Without ``force`` at most one attempt per ``min_refresh_interval`` seconds,
        however many threads ask (a flood of unknown serials → one download).
        """
        if self._fetch is None:
            return False
        with self._refresh_lock:
            if wanted is not None and self._lookup(wanted) is not None:
                return True     # another thread's refresh already brought it
            now = self._clock()
            if (not force and self._last_attempt is not None
                    and now - self._last_attempt < self.min_refresh_interval):
                return False
            self._last_attempt = now
            self.refresh_count += 1
            try:
                headers, body = self._fetch()
                installed = self.install_certificates(headers, body)
            except (WeChatPayError, ValueError, OSError) as exc:
                log.warning("WeChat Pay certificate refresh failed: %s", exc.__class__.__name__)
                self.refresh_failures += 1
                if self._failing_since is None:
                    self._failing_since = now
                return False
            self._last_success = now
            self._failing_since = None
            log.info("WeChat Pay certificates refreshed: %s", [c.serial_no for c in installed])
            return True

    def decrypt_certificates(self, body: bytes | str) -> list[CertificateInfo]:
        """Decrypt and check the certificates of a ``/v3/certificates`` answer (§8).

        Each ``encrypt_certificate`` is AES-GCM-authenticated with the APIv3 key; its
        ``serial_no`` must equal the certificate's own serial; certificates outside
        their validity now are skipped (as wechatpy and wechatpayv3 do).
        """
        if not self._apiv3_key:
            raise DecryptError("platform-certificate mode needs the APIv3 key")
        try:
            items = json.loads(body)["data"]
        except (ValueError, KeyError, TypeError):
            raise DecryptError("certificate list is not JSON with a data array") from None
        now = self._clock()
        valid = []
        for item in items:
            enc = item.get("encrypt_certificate") or {}
            pem = crypto.aes_gcm_decrypt(self._apiv3_key, enc.get("nonce", ""),
                                         enc.get("associated_data", ""), enc.get("ciphertext", ""))
            info = parse_certificate(pem)
            if normalize_serial(info.serial_no) != normalize_serial(item.get("serial_no", "")):
                raise InvalidSignature("certificate serial_no does not match the certificate")
            if not info.is_valid_at(now):
                log.warning("skipping WeChat Pay certificate %s outside its validity", info.serial_no)
                continue
            valid.append(info)
        return valid

    def install_certificates(self, headers: Mapping[str, str], body: bytes) -> list[CertificateInfo]:
        """Decrypt, check and install a ``/v3/certificates`` answer (§8).

        The answer's own signature is checked against the keys it brings plus those
        already held (the Go SDK's answer to the chicken-and-egg problem).
        """
        fresh = {normalize_serial(c.serial_no): c for c in self.decrypt_certificates(body)}
        self._verify_with(headers, body, fresh)
        now = self._clock()
        with self._lock:
            for key in [k for k, c in self._certificates.items() if not c.is_valid_at(now)]:
                del self._certificates[key]
            self._certificates.update(fresh)
        return list(fresh.values())

    def _verify_with(self, headers, body, fresh: dict[str, CertificateInfo]) -> None:
        serial = header(headers, "Wechatpay-Serial")
        info = fresh.get(normalize_serial(serial))
        key = info.public_key if info else self._lookup(serial)
        if key is None:
            raise UnknownSerial(f"certificate list signed by unknown serial {serial}")
        timestamp = header(headers, "Wechatpay-Timestamp")
        message = crypto.response_sign_message(timestamp, header(headers, "Wechatpay-Nonce"), body)
        if not crypto.verify(key, message, header(headers, "Wechatpay-Signature")):
            raise InvalidSignature("certificate list signature does not verify")
        try:
            skew = abs(self._clock() - int(timestamp))
        except ValueError:
            raise InvalidSignature("Wechatpay-Timestamp is not an integer") from None
        if skew > self.max_skew:
            raise StaleTimestamp(f"certificate list timestamp is {int(skew)} s away from now")
