"""Benchmark: a billing run over N houses × 4 fee items, against a raw insert.

    .venv/bin/python bench/billing_run.py                  # 200,000 houses, SQLite and PostgreSQL
    .venv/bin/python bench/billing_run.py --houses 20000 --db sqlite

For each database and each N (N and N/4, to show memory is flat) a fresh
child process seeds a community (物业费 per m², 停车费 and 垃圾处理费 fixed,
水费 metered with two months of readings), then times ``issue_run`` and, on
the same rows, a raw ``executemany`` INSERT with the same driver (one
transaction per 1,000 rows, like the run).  PostgreSQL runs in a throwaway
cluster started here (tests/pg_server.py).  Prints bills/s, their ratio
(target ≥ 0.5) and the peak RSS during the run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PERIOD = "2026-03"
CHUNK = 1000


def _peak_sampler():
    """Sample this process's RSS every 20 ms; returns (stop, peak-bytes getter)."""
    import psutil

    proc, peak, stop = psutil.Process(), [0], threading.Event()

    def run():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            stop.wait(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def finish() -> int:
        stop.set()
        thread.join()
        return max(peak[0], proc.memory_info().rss)

    return finish


def _seed(houses: int):
    from server.billing.models import (FeeItem, FeeStandard, Meter, MeterReading, Method,
                                       StandardStatus)
    from server.db import transaction
    from server.property.models import Building, Community, House
    from server.timeutil import utcnow

    comm = Community.create(name="基准小区", code="BENCH")
    std_values = dict(version=1, status=StandardStatus.PUBLISHED, effective_from=dt.date(2020, 1, 1),
                      published_at=utcnow())
    items = {}
    for code, name, method, price, unit in (("WYF", "物业费", Method.PER_AREA, "2.3500", "m²·月"),
                                            ("TCF", "停车费", Method.FIXED, "150", "户·月"),
                                            ("LJF", "垃圾处理费", Method.FIXED, "8.5000", "户·月"),
                                            ("SF", "水费", Method.METERED, "4.1000", "m³")):
        items[code] = FeeItem.create(community=comm, code=code, name=name)
        FeeStandard.create(fee_item=items[code], method=method, unit_price=Decimal(price), unit=unit,
                           **std_values)
    water = items["SF"].id
    now = utcnow()
    for start in range(0, houses, CHUNK):
        with transaction():
            bldg = Building.create(community=comm, name=f"{start // CHUNK + 1}栋")
            rows = [(comm.id, bldg.id, f"{i:05d}", Decimal(60 + i % 90) + Decimal("0.37"), now)
                    for i in range(start, min(start + CHUNK, houses))]
            House.insert_many(rows, fields=[House.community, House.building, House.room_no,
                                            House.floor_area, House.created_at]).execute()
            ids = [h for (h,) in House.select(House.id).where(House.building == bldg).tuples()]
            Meter.insert_many([(h, water, Decimal(0), dt.date(2025, 1, 1), now) for h in ids],
                              fields=[Meter.house, Meter.fee_item, Meter.start_reading,
                                      Meter.installed_on, Meter.created_at]).execute()
            meters = dict(Meter.select(Meter.house, Meter.id).where(Meter.house.in_(ids)).tuples())
            readings = []
            for h in ids:
                first, second = Decimal(10 + h % 7), Decimal(21 + h % 11) + Decimal("0.5")
                readings.append((h, water, meters[h], "2026-02", Decimal(0), first, first,
                                 dt.date(2026, 2, 28), now))
                readings.append((h, water, meters[h], PERIOD, first, second, second - first,
                                 dt.date(2026, 3, 31), now))
            MeterReading.insert_many(readings, fields=[
                MeterReading.house, MeterReading.fee_item, MeterReading.meter, MeterReading.period,
                MeterReading.previous, MeterReading.current, MeterReading.usage,
                MeterReading.read_on, MeterReading.created_at]).execute()
    return comm


def _raw_insert(db, is_pg: bool) -> tuple[int, float, float | None]:
    """Re-insert the run's bills with the bare driver; returns (rows, executemany s, execute_values s)."""
    from server.billing.runs import BILL_FIELDS

    columns = [f.column_name for f in BILL_FIELDS]
    col_sql = ", ".join(f'"{c}"' for c in columns)
    db.execute_sql(f"CREATE TABLE bench_src AS SELECT id, {col_sql} FROM bill")
    conn = db.connection()

    def batches():
        last = 0
        while True:
            cur = conn.cursor()
            cur.execute(f"SELECT id, {col_sql} FROM bench_src WHERE id > {last} ORDER BY id LIMIT {CHUNK}")
            rows = cur.fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [r[1:] for r in rows]

    def timed(insert) -> float:
        # peewee keeps the driver in autocommit mode: BEGIN/COMMIT are explicit, as in atomic().
        db.execute_sql("TRUNCATE bill CASCADE" if is_pg else "DELETE FROM bill")
        elapsed = 0.0
        for rows in batches():
            t0 = time.perf_counter()
            cur = conn.cursor()
            cur.execute("BEGIN")
            insert(cur, rows)
            cur.execute("COMMIT")
            elapsed += time.perf_counter() - t0
        return elapsed

    marks = ", ".join(["%s" if is_pg else "?"] * len(columns))
    sql = f"INSERT INTO bill ({col_sql}) VALUES ({marks})"
    count = db.execute_sql("SELECT COUNT(*) FROM bench_src").fetchone()[0]
    t_many = timed(lambda cur, rows: cur.executemany(sql, rows))
    t_values = None
    if is_pg:
        from psycopg2.extras import execute_values

        t_values = timed(lambda cur, rows: execute_values(
            cur, f"INSERT INTO bill ({col_sql}) VALUES %s", rows, page_size=CHUNK))
    return count, t_many, t_values


def child(url: str, houses: int) -> dict:
    from server import db as dbmod
    from server import migrations
    from server.audit import Actor
    from server.billing.runs import issue_run
    from server.ledger.check import check_ledger

    db = dbmod.bind(url)
    is_pg = dbmod.is_postgres()
    db.connect()
    migrations.upgrade(db)
    t0 = time.perf_counter()
    comm = _seed(houses)
    seed_s = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    finish = _peak_sampler()
    t0 = time.perf_counter()
    run = issue_run(comm.id, PERIOD, Actor.system("bench"))
    run_s = time.perf_counter() - t0
    run_peak = finish()

    rows, many_s, values_s = _raw_insert(db, is_pg)
    assert rows == run.bills_created, (rows, run.bills_created)

    finish = _peak_sampler()
    t0 = time.perf_counter()
    drifts = check_ledger()
    check_s = time.perf_counter() - t0
    check_peak = finish()
    assert drifts == [], drifts[:5]
    return {"db": "postgres" if is_pg else "sqlite", "houses": houses, "bills": run.bills_created,
            "seed_s": seed_s, "run_s": run_s, "raw_s": many_s, "values_s": values_s,
            "check_s": check_s, "rss_seed_mb": rss_before / 2**20, "rss_run_mb": run_peak / 2**20,
            "rss_check_mb": check_peak / 2**20}


def _spawn(url: str, houses: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", url, "--houses", str(houses)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--houses", type=int, default=200_000, help="houses (default 200000)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--no-small", action="store_true", help="skip the N/4 run (memory check)")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.houses)))
        return

    sizes = [args.houses] if args.no_small else [max(1, args.houses // 4), args.houses]
    results, server = [], None
    tmp = tempfile.mkdtemp(prefix="wuyepay-bench-")
    try:
        for backend in (("sqlite", "postgres") if args.db == "both" else (args.db,)):
            for n in sizes:
                if backend == "sqlite":
                    url = f"sqlite:///{tmp}/bench-{n}.db"
                else:
                    if server is None:
                        from tests.pg_server import PostgresServer
                        server = PostgresServer().start()
                    url = server.create_database(f"bench_{n}")
                print(f"… {backend}: {n} houses", file=sys.stderr, flush=True)
                results.append(_spawn(url, n))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _report(results)


def _report(results: list[dict]) -> None:
    head = (f"{'db':9} {'houses':>8} {'bills':>8} {'issue_run s':>11} {'run bills/s':>11} "
            f"{'raw bills/s':>11} {'ratio':>6} {'exec_values/s':>13} {'peak RSS MB':>11} "
            f"{'check-ledger s':>14}")
    print(head)
    print("-" * len(head))
    for r in results:
        run_rate, raw_rate = r["bills"] / r["run_s"], r["bills"] / r["raw_s"]
        values = f"{r['bills'] / r['values_s']:>13,.0f}" if r["values_s"] else f"{'-':>13}"
        print(f"{r['db']:9} {r['houses']:>8,} {r['bills']:>8,} {r['run_s']:>11.2f} {run_rate:>11,.0f} "
              f"{raw_rate:>11,.0f} {run_rate / raw_rate:>6.2f} {values} {r['rss_run_mb']:>11.1f} "
              f"{r['check_s']:>14.2f}")
    print("ratio = issue_run bills/s ÷ raw executemany bills/s (same rows, same driver); "
          "target ≥ 0.5.  exec_values: psycopg2.extras.execute_values, for reference.\n"
          "peak RSS: sampled during issue_run (fresh process per row); check-ledger: "
          "check_ledger() over every bill afterwards.")


if __name__ == "__main__":
    main()
