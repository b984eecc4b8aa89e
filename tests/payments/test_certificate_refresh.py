"""The daily platform-certificate refresh never holds up a callback we can already verify (R3, R15).

WeChat's ``/v3/certificates`` is made slow or failing with the sandbox's fault
switches; callbacks signed with a cached, valid certificate are verified at
once, the refresh happens on a background thread, and a refresh that keeps
failing raises an alert.  An unknown serial still waits for (at most one a
minute) synchronous download, as before.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from Crypto.PublicKey import RSA

from payments.certs import generate_self_signed_certificate
from payments.exceptions import NetworkError, UnknownSerial
from payments.models import OrderStatus
from payments.verifier import WeChatPayVerifier
from payments.verifier_certs import ALERT_DEDUPE_KEY, ALERT_KIND
from server.alerts import Alert, Severity
from tests.payments.live import (callback_headers, envelope_for, order_status, owner_with_bills, prepaid,
                                 success_plaintext, wait_until)

DAY = 24 * 3600
BACKGROUND = "wechatpay-certificate-refresh"


def recording_fetcher(verifier, fetch):
    """Install ``fetch`` wrapped so the test sees which thread downloaded certificates."""
    threads: list[str] = []

    def recorded():
        threads.append(threading.current_thread().name)
        return fetch()

    verifier.set_certificate_fetcher(recorded)
    return threads


def a_callback(state) -> tuple[dict, bytes]:
    """``(headers, body)`` of a callback signed as WeChat would sign it now."""
    body = envelope_for(state, "TRANSACTION.SUCCESS", {"out_trade_no": "WYNOTHING0001"})
    return callback_headers(state, body), body


@pytest.fixture
def background(make_client, sandbox):
    """A certificate-mode client whose verifier refreshes in the background, certificates
    downloaded once; ``alerts`` collects what it would tell staff."""
    alerts: list[tuple[str, dict]] = []
    verifier = WeChatPayVerifier(use_platform_certificates=True, clock=sandbox.state.now,
                                 refresh_in_background=True, alert=lambda m, d: alerts.append((m, d)))
    client = make_client(mode="certificate", verifier=verifier)
    threads = recording_fetcher(verifier, client.fetch_certificates_response)
    assert verifier.refresh_certificates(force=True)
    threads.clear()
    yield verifier, threads, alerts
    sandbox.state.reset_faults()
    assert verifier.wait_for_background_refresh(10)


def test_a_known_serial_is_verified_at_once_while_the_certificate_download_is_slow(background, sandbox,
                                                                                   key_pool):
    verifier, threads, alerts = background
    state = sandbox.state
    old = state.active_certificate
    new = state.rotate_certificate(key_pool[3])          # WeChat has a new certificate to hand out
    state.active_certificate = old                       # callbacks are still signed with the old one
    state.advance(DAY + 61)                              # the daily refresh is due
    state.set_faults(certificates_latency=2.0)
    before = state.count_requests("/v3/certificates")

    started = time.monotonic()
    assert verifier.verify(*a_callback(state)) == old
    assert time.monotonic() - started < 0.3
    assert new not in verifier.serials()                 # verified with the cache, not a fresh download

    assert verifier.wait_for_background_refresh(10)
    assert threads == [BACKGROUND]
    assert state.count_requests("/v3/certificates") == before + 1
    assert new in verifier.serials() and alerts == []


def test_only_one_background_refresh_runs_however_many_callbacks_arrive(background, sandbox):
    verifier, threads, _ = background
    state = sandbox.state
    state.advance(DAY + 61)
    state.set_faults(certificates_latency=1.0)
    results = []
    callers = [threading.Thread(target=lambda: results.append(verifier.verify(*a_callback(state))))
               for _ in range(10)]
    started = time.monotonic()
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(results) == 10 and time.monotonic() - started < 0.9
    assert verifier.wait_for_background_refresh(10)
    assert threads == [BACKGROUND]
    verifier.verify(*a_callback(state))                  # refreshed: nothing more is due
    assert verifier.wait_for_background_refresh(10) and threads == [BACKGROUND]


def test_a_refresh_failing_for_36_hours_alerts_from_the_background(background, sandbox):
    verifier, threads, alerts = background
    state = sandbox.state
    state.set_faults(fail_certificates=-1)
    state.advance(DAY + 61)                              # due, but the cache is only a day old
    verifier.verify(*a_callback(state))
    assert verifier.wait_for_background_refresh(10)
    assert threads == [BACKGROUND] and verifier.refresh_failures == 1 and alerts == []

    state.advance(13 * 3600)                             # 37 h since the last success
    verifier.verify(*a_callback(state))                  # still verified with the cached certificate
    assert verifier.wait_for_background_refresh(10)
    assert len(alerts) == 1 and "37 小时" in alerts[0][0]
    assert alerts[0][1]["failures"] == 2

    verifier.verify(*a_callback(state))                  # within a minute: no new attempt
    assert verifier.wait_for_background_refresh(10) and len(threads) == 2

    state.reset_faults()
    state.advance(61)
    verifier.verify(*a_callback(state))
    assert verifier.wait_for_background_refresh(10)
    assert verifier.refresh_failures == 2 and verifier.stale_reason() is None and len(alerts) == 1


def test_a_refresh_failing_while_the_newest_certificate_expires_within_7_days_alerts(key_pool):
    now = time.time()
    soon = dt.datetime.fromtimestamp(now, dt.timezone.utc) + dt.timedelta(days=3)
    pem, _ = generate_self_signed_certificate(key_pool[0], not_after=soon)
    alerts = []

    def failing():
        raise NetworkError("GET /v3/certificates: ReadTimeout after 3 attempts")

    verifier = WeChatPayVerifier(apiv3_key="k" * 32, certificates=[pem], use_platform_certificates=True,
                                 fetch_certificates=failing, refresh_in_background=True,
                                 alert=lambda m, d: alerts.append(m))
    verifier._last_success = now - DAY                   # refreshed yesterday: due, not yet 36 h old
    assert verifier.start_background_refresh()
    assert verifier.wait_for_background_refresh(5)
    assert len(alerts) == 1 and "过期" in alerts[0]


def test_a_public_key_merchant_without_certificates_is_not_alerted(key_pool):
    from payments import crypto

    alerts = []

    def failing():
        raise NetworkError("certificates disabled")

    verifier = WeChatPayVerifier(apiv3_key="k" * 32, public_keys={"PUB_KEY_ID_1": crypto.public_key_pem(
        key_pool[1])}, use_platform_certificates=True, fetch_certificates=failing,
        refresh_in_background=True, alert=lambda m, d: alerts.append(m))
    verifier._failing_since = time.time() - 40 * 3600
    assert verifier.start_background_refresh() and verifier.wait_for_background_refresh(5)
    assert verifier.stale_reason() is None and alerts == []


def test_an_unknown_serial_still_waits_for_one_synchronous_refresh_a_minute(background, sandbox, key_pool):
    verifier, threads, _ = background
    state = sandbox.state
    state.advance(61)
    new = state.rotate_certificate(key_pool[3])          # callbacks now signed by a serial we never saw
    state.set_faults(certificates_latency=0.5)
    started = time.monotonic()
    assert verifier.verify(*a_callback(state)) == new
    assert time.monotonic() - started >= 0.5             # it had to wait: nothing cached could verify
    assert threads == [threading.current_thread().name]

    state.rotate_certificate(RSA.generate(1024))         # another unknown serial within the minute
    with pytest.raises(UnknownSerial):
        verifier.verify(*a_callback(state))
    assert len(threads) == 1


# -------------------------------------------------------------------- our endpoint
def _aged_live_verifier(live, hours: float):
    """The app's own verifier with certificates downloaded ``hours`` ago and no attempt since."""
    verifier = live.client.verifier
    assert verifier.refresh_in_background               # what client_from_config builds
    assert verifier.wait_for_background_refresh(10)
    assert verifier.refresh_certificates(force=True)
    threads = recording_fetcher(verifier, live.client.fetch_certificates_response)
    verifier._last_success = verifier._last_attempt = time.time() - hours * 3600
    return verifier, threads


def _paid_callback(live):
    bills = owner_with_bills()
    order, prepay_id = prepaid(live, bills)
    live.state.set_faults(drop_callbacks=1)
    live.state.ledger.pay(prepay_id)
    body = envelope_for(live.state, "TRANSACTION.SUCCESS", success_plaintext(live.state, order.out_trade_no))
    return order, body


def test_the_notify_endpoint_does_not_wait_for_a_slow_certificate_download(live):
    order, body = _paid_callback(live)
    verifier, threads = _aged_live_verifier(live, hours=25)
    live.state.set_faults(certificates_latency=2.0)
    before = live.state.count_requests("/v3/certificates")

    started = time.monotonic()
    answer = live.post_callback(body, callback_headers(live.state, body))
    elapsed = time.monotonic() - started
    assert answer.status_code == 204 and order_status(order) == OrderStatus.PAID
    assert elapsed < 1.0, elapsed                        # not the 2 s the download takes

    assert verifier.wait_for_background_refresh(10)
    assert threads == [BACKGROUND] and live.state.count_requests("/v3/certificates") == before + 1
    assert Alert.select().count() == 0


def test_a_certificate_refresh_failing_for_36_hours_raises_one_alert(live):
    order, body = _paid_callback(live)
    verifier, threads = _aged_live_verifier(live, hours=37)
    live.state.set_faults(fail_certificates=-1)

    answer = live.post_callback(body, callback_headers(live.state, body))
    assert answer.status_code == 204 and order_status(order) == OrderStatus.PAID
    assert verifier.wait_for_background_refresh(10) and threads == [BACKGROUND]
    assert wait_until(lambda: Alert.select().where(Alert.dedupe_key == ALERT_DEDUPE_KEY).count() == 1)

    verifier._last_attempt -= 61                         # a minute later it fails again: same alert
    assert verifier.start_background_refresh() and verifier.wait_for_background_refresh(10)
    alert = Alert.get(Alert.dedupe_key == ALERT_DEDUPE_KEY)
    assert (alert.kind, alert.severity, alert.count) == (ALERT_KIND, Severity.CRITICAL, 2)
    assert Alert.select().count() == 1
