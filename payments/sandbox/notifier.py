"""Callbacks like WeChat Pay sends them (wechat-pay-v3.md §2, §3).

The resource is AES-256-GCM-encrypted with the APIv3 key, the body is fixed
once per notification, and every attempt is signed afresh with the five
``Wechatpay-*`` headers.  A non-2xx answer (or none) is retried on WeChat's
schedule ``15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h`` (24h4m),
divided by ``state.time_compression`` for tests.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid

import requests

from payments import crypto
from payments.sandbox.ledger import rfc3339

log = logging.getLogger(__name__)

RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800,
                  21600, 21600)


class Notifier:
    """One dispatcher thread with a timer heap; each attempt runs on its own thread."""

    def __init__(self, state):
        self.state = state
        self._heap: list = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._stopped = False
        self.notifications: dict[str, dict] = {}
        self.deliveries: list[dict] = []

    # ------------------------------------------------------------ scheduling
    def call_later(self, delay: float, fn, *args) -> None:
        """Run ``fn(*args)`` after ``delay`` sandbox seconds (compressed)."""
        due = time.monotonic() + max(0.0, delay) / self.state.time_compression
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (due, next(self._seq), fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-notifier", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn, args = heapq.heappop(self._heap)
                worker = threading.Thread(target=self._safe, args=(fn, args), daemon=True)
                self._workers = [w for w in self._workers if w.is_alive()] + [worker]
            worker.start()

    @staticmethod
    def _safe(fn, args) -> None:
        try:
            fn(*args)
        except Exception:                       # a sandbox bug must not kill the dispatcher
            log.exception("sandbox notifier task failed")

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            workers = list(self._workers)
        if self._thread is not None:
            self._thread.join(timeout=5)
        for worker in workers:
            worker.join(timeout=self.state.callback_timeout + 1)

    # ---------------------------------------------------------- notifications
    def notify(self, url: str, event_type: str, summary: str, original_type: str,
               plaintext: dict) -> str:
        """Encrypt ``plaintext`` into a notification and deliver it to ``url``."""
        state = self.state
        nonce = crypto.new_resource_nonce()
        envelope = {
            "id": str(uuid.uuid4()), "create_time": rfc3339(state.now()),
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": crypto.aes_gcm_encrypt(state.apiv3_key, nonce, original_type,
                                                             crypto.serialize_body(plaintext)),
                         "associated_data": original_type, "nonce": nonce},
        }
        record = {"id": envelope["id"], "url": url, "event_type": event_type, "plaintext": plaintext,
                  "body": crypto.serialize_body(envelope), "attempts": 0, "delivered": False,
                  "dropped": state.take("drop_callbacks")}
        with state.lock:
            self.notifications[record["id"]] = record
        if not record["dropped"]:
            self.call_later(0, self._attempt, record)
        return record["id"]

    def _attempt(self, record: dict) -> None:
        state = self.state
        copies = max(1, state.faults.duplicate_callbacks)
        probe = state.take("probe_callbacks")
        with state.lock:
            record["attempts"] += 1
            attempt = record["attempts"]
        results: list[bool] = []
        barrier = threading.Barrier(copies)
        threads = [threading.Thread(target=self._send, args=(record, attempt, n, probe, barrier, results),
                                    daemon=True) for n in range(copies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if any(results):
            with state.lock:
                record["delivered"] = True
            return
        retry = attempt - 1
        if retry < len(RETRY_SCHEDULE) and not state.stop_event.is_set():
            self.call_later(RETRY_SCHEDULE[retry], self._attempt, record)

    def _send(self, record, attempt, copy, probe, barrier, results) -> None:
        state = self.state
        headers = {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0",
                   **state.sign_headers(record["body"], for_callback=True, probe=probe)}
        entry = {"id": record["id"], "event_type": record["event_type"], "attempt": attempt,
                 "copy": copy, "probe": probe, "serial": headers["Wechatpay-Serial"],
                 "status": None, "error": ""}
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        try:
            answer = requests.post(record["url"], data=record["body"], headers=headers,
                                   timeout=state.callback_timeout)
            entry["status"] = answer.status_code
            answer.close()
        except requests.RequestException as exc:
            entry["error"] = exc.__class__.__name__
        entry["at"] = state.now()
        with state.lock:
            self.deliveries.append(entry)
            results.append(entry["status"] is not None and 200 <= entry["status"] < 300)

    # ------------------------------------------------------------------ tests
    def wait_for(self, predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
        """Poll ``predicate(notifier)`` until true or ``timeout`` real seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.state.lock:
                if predicate(self):
                    return True
            time.sleep(interval)
        with self.state.lock:
            return bool(predicate(self))

    def for_event(self, event_type: str) -> list[dict]:
        with self.state.lock:
            return [n for n in self.notifications.values() if n["event_type"] == event_type]
