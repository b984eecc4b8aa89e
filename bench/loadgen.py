"""A keep-alive HTTP load generator: processes of threads, each thread one connection.

``measure(port, [(path, bearer token or ""), …], connections=32, procs=2, seconds=15,
warmup=2, rate=0)`` → ``{n, rps, p50, p90, p99, max, errors, sent}``, times in milliseconds
(``sent``: every answered request, the warm-up's too).  ``tree_cpu(pid, …)``: the CPU
seconds a process tree has used, to put a server-side cost on each request.
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
    errors, sent = [0], [0]

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
            sent[0] += 1
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
    out.send(([x for r in results for x in r], errors[0], sent[0]))
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
    latencies, errors, sent = [], 0, 0
    for receive, job in zip(pipes, jobs):
        got, failed, total = receive.recv()
        latencies += got
        errors += failed
        sent += total
        job.join()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(int(q * len(latencies)), len(latencies) - 1)] if latencies else float("nan")

    return {"n": len(latencies), "rps": len(latencies) / seconds, "p50": pct(0.50), "p90": pct(0.90),
            "p99": pct(0.99), "max": latencies[-1] if latencies else float("nan"), "errors": errors,
            "sent": sent}


def report(label: str, r: dict) -> None:
    print(f"  {label:<44} {r['rps']:8.0f} req/s   p50 {r['p50']:7.2f} ms   p90 {r['p90']:7.2f} ms   "
          f"p99 {r['p99']:7.2f} ms   max {r['max']:7.1f} ms   errors {r['errors']}", flush=True)


def _stats() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, CPU seconds so far, its reaped children's included), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    return found


def tree_cpu(*roots: int) -> float:
    """CPU seconds used by the processes ``roots`` and all their live descendants."""
    stats, total, todo, seen = _stats(), 0.0, list(roots), set()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total
