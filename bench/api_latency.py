"""Benchmark: ``GET /api/v1/houses/{id}/bills`` under gunicorn on PostgreSQL, next to a bare endpoint.

    .venv/bin/python bench/api_latency.py                     # 200,000 houses, 32 connections, 15 s
    .venv/bin/python bench/api_latency.py --houses 20000 --seconds 5 --workers 4

A throwaway PostgreSQL cluster (tests/pg_server.py) is migrated and filled with
COPY: ``--houses`` houses in communities of 1,000; for ``--billed-houses`` of
them 6 periods × 4 fee items of bills (older periods paid); ``--owners`` owners
with a session token bound to billed houses.  The app runs under gunicorn
(``--workers``, default 2 × cores, gthread × ``--threads``) on
``postgresql+pool://`` (``--no-pool``: a connection per request).  Then
``--connections`` keep-alive connections (``--client-procs`` processes of
threads, http.client) ask for random owners' bills for ``--seconds``, and
/healthz the same way: a closed loop for throughput, then a run paced at
``--paced`` × that throughput for latency below saturation (timed from when
each request was due, so stalls are not hidden).  The load generator shares
the cores with gunicorn and PostgreSQL.  Target p99 ≤ 25 ms.  Each closed loop
also prints the server CPU per request (gunicorn's and PostgreSQL's process
trees, from /proc): the figure that stays comparable on a busy machine.

The server runs as deployed (README, "Deploying at scale"): with a Redis of its
own (``REDIS_URL``), so jobs and the scheduler live in RQ workers, not in the
web workers.  ``--embedded`` measures the single-process shape instead (no
Redis): one web worker then runs the in-process scheduler, whose first act on
a fresh database is the late-fee catch-up over every open bill, during the
measurement.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import measure, report, tree_cpu  # noqa: E402

PERIODS = ["2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
PAID_PERIODS = 3
ITEMS = (("WYF", "物业费", "per_area", "2.3500", "m²·月"), ("TCF", "停车费", "fixed", "150.0000", "户·月"),
         ("LJF", "垃圾处理费", "fixed", "8.5000", "户·月"), ("SF", "水费", "metered", "4.1000", "m³"))
PER_COMMUNITY, PER_BUILDING = 1000, 100


# ---------------------------------------------------------------------------- loading
def _text(field, value) -> str:
    value = field.db_value(value)
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy(cursor, model, rows, constants: dict | None = None, chunk: int = 100_000) -> int:
    """COPY ``rows`` (dicts of the varying fields) into ``model``'s table; every other
    column is the constant given or the field's default, converted once."""
    fields = model._meta.sorted_fields
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    fixed = {}
    for f in fields:
        if f.name in first:
            continue
        value = (constants or {}).get(f.name, f.default() if callable(f.default) else f.default)
        fixed[f.name] = _text(f, value)
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    sql = f'COPY "{model._meta.table_name}" ({columns}) FROM STDIN'
    count, buffer = 0, io.StringIO()
    for row in ([first], rows):
        for r in row:
            buffer.write("\t".join(fixed[f.name] if f.name in fixed else _text(f, r[f.name])
                                   for f in fields) + "\n")
            count += 1
            if count % chunk == 0:
                buffer.seek(0)
                cursor.copy_expert(sql, buffer)
                buffer = io.StringIO()
    buffer.seek(0)
    cursor.copy_expert(sql, buffer)
    return count


def load(url: str, houses: int, billed: int, owners: int) -> list[tuple[str, int]]:
    """Fill the database; returns (token, house id) pairs of bound owners."""
    from server import db as dbmod
    from server import migrations
    from server.billing.models import Bill, FeeItem, FeeStandard
    from server.owners.models import OwnerSession
    from server.owners.sessions import hash_token
    from server.property.models import Binding, Building, Community, House, Owner
    from server.timeutil import utcnow

    db = dbmod.bind(url)
    migrations.upgrade(db)
    now, rng = utcnow(), random.Random(7)
    communities = (houses + PER_COMMUNITY - 1) // PER_COMMUNITY
    cur = db.cursor()
    with db.atomic():
        copy(cur, Community, ({"id": c, "name": f"基准小区{c:04d}", "code": f"B{c:04d}"}
                              for c in range(1, communities + 1)), {"created_at": now})
        per = PER_COMMUNITY // PER_BUILDING
        copy(cur, Building, ({"id": b, "community": (b - 1) // per + 1, "name": f"{(b - 1) % per + 1}栋"}
                             for b in range(1, (houses + PER_BUILDING - 1) // PER_BUILDING + 1)))
        copy(cur, House, ({"id": h, "community": (h - 1) // PER_COMMUNITY + 1,
                           "building": (h - 1) // PER_BUILDING + 1, "floor_area": _area(h),
                           "room_no": f"{(h - 1) % PER_BUILDING + 101}"}
                          for h in range(1, houses + 1)), {"unit": "1单元", "created_at": now})
        copy(cur, FeeItem, ({"id": (c - 1) * 4 + i + 1, "community": c, "code": code, "name": name}
                            for c in range(1, communities + 1) for i, (code, name, *_) in enumerate(ITEMS)))
        copy(cur, FeeStandard, ({"id": (c - 1) * 4 + i + 1, "fee_item": (c - 1) * 4 + i + 1, "method": m,
                                 "unit_price": Decimal(p), "unit": u}
                                for c in range(1, communities + 1)
                                for i, (_, _, m, p, u) in enumerate(ITEMS)),
             {"version": 1, "status": "published", "effective_from": dt.date(2020, 1, 1),
              "created_at": now, "published_at": now})
        copy(cur, Bill, _bills(billed, houses, now), {"months": 1, "issued_at": now, "source": "import"})
        picked = rng.sample(range(1, min(billed, houses) + 1), min(owners, billed, houses))
        tokens = [secrets.token_urlsafe(32) for _ in picked]
        copy(cur, Owner, ({"id": i, "openid": f"oBENCH{i:09d}"} for i in range(1, len(picked) + 1)),
             {"created_at": now})
        copy(cur, OwnerSession, ({"id": i, "owner": i, "token_hash": hash_token(t)}
                                 for i, t in enumerate(tokens, 1)),
             {"created_at": now, "last_used_at": now, "expires_at": now + dt.timedelta(days=30)})
        copy(cur, Binding, ({"id": i, "owner": i, "house": h} for i, h in enumerate(picked, 1)),
             {"verified_by": "import", "created_at": now})
        for model in (Community, Building, House, FeeItem, FeeStandard, Bill, Owner, OwnerSession, Binding):
            table = model._meta.table_name
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                           f"(SELECT COALESCE(MAX(id), 1) FROM \"{table}\"))")
    db.execute_sql("ANALYZE")
    db.close()
    return list(zip(tokens, picked))


def _area(house: int) -> Decimal:
    return Decimal(60 + house % 90) + Decimal("0.50")


def _bills(billed: int, houses: int, now):
    from server.timeutil import day_in_month, period_end, period_start

    bill_id = 0
    for h in range(1, min(billed, houses) + 1):
        c, area = (h - 1) // PER_COMMUNITY + 1, _area(h)
        for n, period in enumerate(PERIODS):
            for i, (_, _, method, price, unit) in enumerate(ITEMS):
                quantity = area if method == "per_area" else (Decimal(h % 17 + 3) if method == "metered"
                                                              else Decimal(1))
                amount = int((quantity * Decimal(price) * 100).quantize(Decimal(1)))
                paid = n < PAID_PERIODS
                bill_id += 1
                yield {"id": bill_id, "house": h, "community": c, "fee_item": (c - 1) * 4 + i + 1,
                       "standard": (c - 1) * 4 + i + 1, "standard_version": 1, "period": period,
                       "period_start": period_start(period), "period_end": period_end(period),
                       "method": method, "quantity": quantity, "unit": unit, "unit_price": Decimal(price),
                       "previous_reading": Decimal(100 * n) if method == "metered" else None,
                       "current_reading": (Decimal(100 * n) + quantity) if method == "metered" else None,
                       "amount_fen": amount, "paid_fen": amount if paid else 0,
                       "status": "paid" if paid else "unpaid", "due_date": day_in_month(period, 15)}


def postmaster_pid(pg) -> int:
    with open(os.path.join(pg.datadir, "postmaster.pid")) as fh:
        return int(fh.readline())


# ----------------------------------------------------------------------------- main
def start_redis(folder: str) -> tuple[subprocess.Popen, str]:
    """A throwaway redis-server (no persistence) on a free port; its URL."""
    from tests.pg_server import _free_port

    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found: install it, or run with --embedded")
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.RedisError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("redis-server did not start")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve(url: str, workers: int, threads: int, folder: str,
          redis_url: str = "") -> tuple[subprocess.Popen, int]:
    from tests.pg_server import _free_port

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, DEMO_MODE="false", WUYEPAY_INSTANCE_PATH=folder,
               SECRET_KEY="bench-" + "0" * 40, PYTHONPATH=str(ROOT), REDIS_URL=redis_url)
    log = open(os.path.join(folder, "gunicorn.log"), "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
         "--threads", str(threads), "--keep-alive", "75", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "server:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return server, port
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not become ready; see {folder}/gunicorn.log")


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--houses", type=int, default=200_000)
    parser.add_argument("--billed-houses", type=int, default=20_000)
    parser.add_argument("--owners", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2 * cores)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client-procs", type=int, default=min(cores, 4))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--paced", type=float, default=0.5, help="fraction of closed-loop req/s; 0 = skip")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="pace the bills endpoint at this many req/s instead (to compare builds)")
    parser.add_argument("--no-pool", action="store_true", help="a new PG connection per request")
    parser.add_argument("--embedded", action="store_true",
                        help="no Redis: jobs and the scheduler run inside a web worker")
    args = parser.parse_args()

    from tests.pg_server import PostgresServer

    pg = PostgresServer().start()
    folder = tempfile.mkdtemp(prefix="wuyepay-bench-")
    server = redis_proc = None
    try:
        url = pg.create_database("bench")
        began = time.perf_counter()
        pairs = load(url, args.houses, args.billed_houses, args.owners)
        print(f"loaded {args.houses:,} houses, {min(args.billed_houses, args.houses) * 24:,} bills, "
              f"{len(pairs):,} owners in {time.perf_counter() - began:.1f} s", flush=True)
        pooled = url.replace("postgresql://", "postgresql+pool://", 1) + "?max_connections=32"
        app_url = url if args.no_pool else pooled
        redis_url = ""
        if not args.embedded:
            redis_proc, redis_url = start_redis(folder)
        server, port = serve(app_url, args.workers, args.threads, folder, redis_url)
        print(f"gunicorn: {args.workers} workers × {args.threads} threads (gthread), "
              f"{'per-request' if args.no_pool else 'pooled'} PG connections, "
              f"{'embedded jobs and scheduler' if args.embedded else 'Redis (jobs elsewhere)'}; "
              f"{cores} cores shared with "
              f"PostgreSQL and {args.client_procs} client processes; {args.connections} keep-alive "
              f"connections, {args.seconds:g} s each; load average {os.getloadavg()[0]:.1f}", flush=True)
        bills = [(f"/api/v1/houses/{h}/bills", t) for t, h in pairs]
        endpoints = {"GET /api/v1/houses/{id}/bills (24 bills)": bills,
                     "GET /healthz (bare)": [("/healthz", "")]}
        common = dict(connections=args.connections, procs=args.client_procs, seconds=args.seconds,
                      warmup=args.warmup)
        closed, servers = {}, (server.pid, postmaster_pid(pg))
        for label, paths in endpoints.items():
            app_cpu, db_cpu = tree_cpu(servers[0]), tree_cpu(servers[1])
            closed[label] = result = measure(port, paths, **common)
            app_cpu, db_cpu = tree_cpu(servers[0]) - app_cpu, tree_cpu(servers[1]) - db_cpu
            report(label + ", closed loop", result)
            # The steadier figure on a shared machine: what one request costs the server side.
            print(f"    server CPU per request {1000 * (app_cpu + db_cpu) / max(result['sent'], 1):.2f} ms "
                  f"(gunicorn {1000 * app_cpu / max(result['sent'], 1):.2f}, "
                  f"PostgreSQL {1000 * db_cpu / max(result['sent'], 1):.2f})", flush=True)
        if args.paced:
            for label, paths in endpoints.items():
                rate = closed[label]["rps"] * args.paced
                if args.rate and label == next(iter(endpoints)):
                    rate = args.rate
                report(f"{label}, paced {rate:.0f}/s", measure(port, paths, rate=rate, **common))
        worst = closed[next(iter(endpoints))]["p99"]
        print(f"target p99 ≤ 25 ms at {args.connections} connections: {'met' if worst <= 25 else 'NOT met'} "
              f"({worst:.1f} ms); load average now {os.getloadavg()[0]:.1f}")
    finally:
        stop(server)
        stop(redis_proc)
        pg.stop()


if __name__ == "__main__":
    main()
