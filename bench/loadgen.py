"""A keep-alive HTTP load generator: processes of threads, each thread one connection.

``measure(port, [(path, bearer token or ""), …], connections=32, procs=2, seconds=15,
warmup=2, rate=0)`` → ``{n, rps, p50, p90, p99, max, errors}`` in milliseconds.
``rate`` 0 is a closed loop (each connection sends as soon as it has its answer);
otherwise requests are paced at ``rate`` per second in total and each latency is
timed from when the request was due, so a stalled server cannot hide its queue
(no coordinated omission).  Only 200 counts as success.
"""
from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import threading
import time


def _client(port: int, paths: list[tuple[str, str]], threads: int, seconds: float, warmup: float,
            rate: float, out) -> None:
    """One load-generating process: ``threads`` keep-alive connections."""
    start = time.perf_counter() + 0.2
    stop_at, record_from = start + warmup + seconds, start + warmup
    results: list[list[float]] = []
    errors = [0]

    def run(index: int) -> None:
        rng, mine = random.Random(index), []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        interval = threads * 1.0 / rate if rate else 0.0
        due = start + rng.random() * interval
        while True:
            now = time.perf_counter()
            if interval:
                if due > now:
                    time.sleep(due - now)
                began = due
                due += interval
            else:
                began = now
            if began >= stop_at:
                break
            path, token = rng.choice(paths)
            try:
                conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn, ok = http.client.HTTPConnection("127.0.0.1", port, timeout=30), False
            ended = time.perf_counter()
            if began >= record_from:
                mine.append((ended - began) * 1000)
                errors[0] += not ok
        conn.close()
        results.append(mine)

    workers = [threading.Thread(target=run, args=(os.getpid() * 1000 + i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.send(([x for r in results for x in r], errors[0]))
    out.close()


def measure(port, paths, *, connections, procs, seconds, warmup, rate=0.0) -> dict:
    ctx = multiprocessing.get_context("spawn")
    pipes, jobs = [], []
    for p in range(procs):
        threads = connections // procs + (1 if p < connections % procs else 0)
        receive, send = ctx.Pipe(duplex=False)
        job = ctx.Process(target=_client, args=(port, paths, threads, seconds, warmup,
                                                rate * threads / connections, send))
        job.start()
        pipes.append(receive)
        jobs.append(job)
    latencies, errors = [], 0
    for receive, job in zip(pipes, jobs):
        got, failed = receive.recv()
        latencies += got
        errors += failed
        job.join()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(int(q * len(latencies)), len(latencies) - 1)] if latencies else float("nan")

    return {"n": len(latencies), "rps": len(latencies) / seconds, "p50": pct(0.50), "p90": pct(0.90),
            "p99": pct(0.99), "max": latencies[-1] if latencies else float("nan"), "errors": errors}


def report(label: str, r: dict) -> None:
    print(f"  {label:<44} {r['rps']:8.0f} req/s   p50 {r['p50']:7.2f} ms   p90 {r['p90']:7.2f} ms   "
          f"p99 {r['p99']:7.2f} ms   max {r['max']:7.1f} ms   errors {r['errors']}", flush=True)
