"""Benchmark: reconciling an N-row WeChat Pay trade bill against matching local records.

    .venv/bin/python bench/reconcile.py                       # 250,000 and 1,000,000 rows
    .venv/bin/python bench/reconcile.py --rows 100000 --rows 400000

For each N a child process writes the bill in the exact format (BOM, CRLF,
back-ticks, yuan, summary row; bench/tradebill.py) and a throwaway SQLite
database with the matching orders, payments and refunds; a second child then
times a plain ``csv.reader`` pass over the file and the full reconciliation
(``server.reconciliation.service.reconcile_file``: streaming parse, yuan → fen
with Decimal, batched matching, the anti-join for missing payments and
refunds, the summary check) of the same file, and samples its peak RSS.
Prints both times (wall, and CPU: the fair figure on a busy machine), their
ratio (target ≤ 2.5) and the peak RSS per N (flat means the reconciliation's
memory does not grow with the bill).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAY = dt.date(2026, 3, 14)


def _peak_sampler():
    from bench.billing_run import _peak_sampler as sampler

    return sampler()


def _bulk(db, model, columns: list[str], rows, constants: dict) -> None:
    """``executemany`` of pre-converted rows; ``constants`` fill the other NOT NULL columns."""
    fields = columns + list(constants)
    sql = (f'INSERT INTO "{model._meta.table_name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in fields)}) '
           f'VALUES ({", ".join(["?"] * len(fields))})')
    tail = tuple(constants.values())
    batch = []
    for row in rows:
        batch.append(row + tail)
        if len(batch) == 50_000:
            db.cursor().executemany(sql, batch)
            batch.clear()
    if batch:
        db.cursor().executemany(sql, batch)


def setup(folder: Path, n: int) -> None:
    from bench import tradebill as tb
    from payments.models import PaymentOrder
    from server import db as dbmod
    from server import migrations
    from server.ledger.models import Payment, Refund
    from server.timeutil import UTC, utcnow
    from tests import factories as f

    tb.write(folder / "bill.csv", DAY, n)
    db = dbmod.bind(f"sqlite:///{folder / 'bench.db'}")
    migrations.upgrade(db)
    ts = PaymentOrder.created_at.db_value
    now = ts(utcnow())
    with db.atomic():
        comm = f.community()
        item = f.fee_item(comm, "WYF")
        bill = f.bill(f.house(comm), item)
        payments, refunds = [], []
        for i, refund, fields in tb.rows(DAY, n):
            when = dt.datetime.strptime(fields["交易时间"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tb.CST)
            paid_i = i - (tb.REFUND_EVERY - 1) if refund else i
            txn, otn, rno = tb.ids(paid_i)
            if refund:
                refunds.append((paid_i + 1, rno, tb.refund_amount(paid_i), ts(when.astimezone(UTC))))
            else:
                payments.append((i + 1, otn, tb.payment_amount(i), txn, ts(when.astimezone(UTC))))
        _bulk(db, PaymentOrder, ["id", "out_trade_no", "total_fen", "transaction_id", "paid_at"], payments,
              {"community_id": comm.id, "channel": "wechat", "description": "bench", "status": "paid",
               "request_hash": "", "created_at": now, "updated_at": now, "query_attempts": 0,
               "last_error": "", "remote_closed": 0, "payer_name": ""})
        _bulk(db, Payment, ["id", "order_id", "amount_fen", "transaction_id", "received_at"],
              ((p[0], p[0], p[2], p[3], p[4]) for p in payments),
              {"community_id": comm.id, "channel": "wechat", "payer_name": "", "created_at": now,
               "needs_review": 0, "review_reason": ""})
        _bulk(db, Refund, ["payment_id", "out_refund_no", "amount_fen", "succeeded_at"], refunds,
              {"bill_id": bill.id, "reason": "bench", "status": "success", "created_at": now,
               "updated_at": now})
    db.execute_sql("ANALYZE")
    db.close()


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall and best CPU seconds of ``repeat`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def measure(folder: Path) -> dict:
    from bench.tradebill import APPID, MCHID
    from server import db as dbmod
    from server.reconciliation.service import reconcile_file

    path = folder / "bill.csv"

    def parse_csv():
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return sum(1 for _ in csv.reader(handle))

    def reconcile():
        with db.connection_context(), open(path, "rb") as stream:
            return reconcile_file(DAY, stream, mchid=MCHID, appid=APPID)

    csv_wall, csv_cpu, lines = _timed(parse_csv, 3)
    db = dbmod.bind(f"sqlite:///{folder / 'bench.db'}")
    peak = _peak_sampler()
    # The first run reconciles; the second re-runs the same day (the same work, nothing new).
    wall, cpu, run = _timed(reconcile, 2)
    return {"csv_lines": lines, "csv_seconds": csv_wall, "csv_cpu": csv_cpu, "reconcile_seconds": wall,
            "reconcile_cpu": cpu, "peak_rss_mb": peak() / 2 ** 20, "rows": run.remote_rows,
            "differences": run.differences, "summary_ok": run.summary_ok, "payments": run.remote_payments,
            "refunds": run.remote_refunds, "local_payments": run.local_payments,
            "local_refunds": run.local_refunds}


def _child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="bill rows (repeatable)")
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(Path(args.setup), args.rows[0])
        print(json.dumps({"ok": True}))
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    print("best of 3 csv.reader passes, best of 2 reconciliations; wall seconds (CPU seconds)")
    print(f"{'rows':>9} {'csv.reader':>15} {'reconcile':>15} {'ratio':>11} {'peak RSS MB':>11}  check")
    for n in args.rows or [250_000, 1_000_000]:
        with tempfile.TemporaryDirectory(prefix="wuyepay-bench-recon-") as tmp:
            _child("--setup", tmp, "--rows", str(n))
            r = _child("--measure", tmp)
        ok = (r["rows"] == n and r["differences"] == 0 and r["summary_ok"]
              and r["local_payments"] == r["payments"] and r["local_refunds"] == r["refunds"])
        times = (f"{r['csv_seconds']:>6.2f} ({r['csv_cpu']:>5.2f}) {r['reconcile_seconds']:>6.2f} "
                 f"({r['reconcile_cpu']:>5.2f}) {r['reconcile_seconds'] / r['csv_seconds']:>4.2f} "
                 f"({r['reconcile_cpu'] / r['csv_cpu']:.2f})")
        print(f"{n:>9,} {times} {r['peak_rss_mb']:>11.1f}  "
              f"{'all matched, summary ok' if ok else 'UNEXPECTED: ' + json.dumps(r)}")


if __name__ == "__main__":
    main()
