"""Event counters over a sliding window, in Redis or (embedded mode) in memory.

The WeChat callback endpoint counts signature failures here
(``notify.receive(on_signature_failure=counters.record_signature_failure)``):
never the database, since a refused callback must leave no row (R3).  The
alert check reads the count of the last five minutes.
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)
BUCKET = 60                 # seconds per bucket
WINDOW = 300                # seconds counted by ``total``


class WindowCounter:
    def __init__(self, name: str, redis_url: str = "", *, window: int = WINDOW, clock=time.time):
        self.name, self.window, self.clock = name, window, clock
        self._redis = None
        if redis_url:
            import redis

            # Short timeouts: counting must never slow the endpoint that counts.
            self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._buckets: dict[int, int] = {}
        self._lock = threading.Lock()

    def _key(self, bucket: int) -> str:
        return f"wuyepay:count:{self.name}:{bucket}"

    def _recent(self, now: float) -> range:
        last = int(now) // BUCKET
        return range(last - self.window // BUCKET + 1, last + 1)

    def incr(self, amount: int = 1) -> None:
        bucket = int(self.clock()) // BUCKET
        if self._redis is None:
            with self._lock:
                self._buckets[bucket] = self._buckets.get(bucket, 0) + amount
                for old in [b for b in self._buckets if b < bucket - self.window // BUCKET]:
                    del self._buckets[old]
            return
        import redis

        try:
            with self._redis.pipeline() as pipe:
                pipe.incrby(self._key(bucket), amount)
                pipe.expire(self._key(bucket), self.window + BUCKET)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not count %s: %s", self.name, exc)

    def total(self) -> int:
        buckets = self._recent(self.clock())
        if self._redis is None:
            with self._lock:
                return sum(self._buckets.get(b, 0) for b in buckets)
        values = self._redis.mget([self._key(b) for b in buckets])
        return sum(int(v) for v in values if v is not None)


_signature_failures = WindowCounter("signature_failures")


def configure(redis_url: str) -> None:
    """Count in Redis when there is one (shared by every web process), else in memory."""
    global _signature_failures
    _signature_failures = WindowCounter("signature_failures", redis_url)


def signature_failures() -> WindowCounter:
    return _signature_failures


def record_signature_failure(exc: Exception | None = None) -> None:
    """``on_signature_failure`` callback of ``payments.notify.receive``."""
    _signature_failures.incr()
