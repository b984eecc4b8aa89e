"""Platform-certificate mode of :class:`payments.verifier.WeChatPayVerifier` (wechat-pay-v3.md §8).

Download ``GET /v3/certificates``, decrypt each certificate with the APIv3 key,
check serial and validity, cache; refresh daily and, on an unknown serial, at
most once a minute however many threads ask (RELIABILITY.md R3).
"""
from __future__ import annotations

import json
import logging
from typing import Mapping

from payments import crypto
from payments.certs import CertificateInfo, normalize_serial, parse_certificate
from payments.exceptions import (
    DecryptError, InvalidSignature, StaleTimestamp, UnknownSerial, WeChatPayError,
)

log = logging.getLogger("payments.verifier")


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup that also works on a plain ``dict``."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or ""


class PlatformCertificatesMixin:
    """Needs ``_apiv3_key``, ``_clock``, ``_fetch``, ``_lock``, ``_refresh_lock``,
    ``_certificates``, ``_lookup``, ``max_skew`` and the refresh bookkeeping attributes."""

    # ------------------------------------------------- platform certificates
    def _maybe_daily_refresh(self) -> None:
        if not (self.use_platform_certificates and self._fetch is not None):
            return
        last = self._last_success
        if last is None or self._clock() - last >= self.refresh_interval:
            self.refresh_certificates(force=False)

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
                return False
            self._last_success = now
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
