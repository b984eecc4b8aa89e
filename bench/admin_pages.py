"""Benchmark: the staff pages and the staff API at the scale of a large property company.

    .venv/bin/python bench/admin_pages.py                          # 200,000 houses on PostgreSQL
    .venv/bin/python bench/admin_pages.py --houses 20000 --db sqlite --requests 10

Builds ``--houses`` houses in communities of 1,000 (buildings of 100, owner names
on every house), 3 periods × 4 fee items of bills (this month, last month and
three months ago; 80 % / 60 % / 30 % of the houses paid each), one payment per paid
house and period (WeChat with its order and order lines, cash, bank transfer, POS)
with its allocations, bound owners for 10 % of the houses with reminders of the
unpaid bills, and audit rows (one per payment, plus staff sign-ins).  PostgreSQL
runs in a throwaway cluster (tests/pg_server.py, started as ``postgres`` via
runuser) and is filled with COPY; SQLite with batched INSERTs.

Then, in this process through the Flask test client (no HTTP server: the figures are
the application's and the database's time, not gunicorn's), signed in as an admin
(every community) and as a manager of one community, each page is requested once to
warm up and then ``--requests`` times (fewer when a request takes seconds).  Prints
the median and p95 in ms and the SQL statements per request.  Targets at 200,000
houses on PostgreSQL: p95 ≤ 300 ms for the manager, ≤ 1 s for the admin.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_latency import ITEMS, PER_BUILDING, PER_COMMUNITY, copy  # noqa: E402

PASSWORD = "bench password 42"
PAID_SHARE = (0.3, 0.6, 0.8)          # this month, last month, three months ago
CHANNELS = (("wechat", 60), ("cash", 20), ("bank_transfer", 10), ("pos", 10))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红娥建国文辉力鹏飞宇浩然子涵欣怡梓轩思远雨婷俊杰"


# ----------------------------------------------------------------------------- dataset
def _name(h: int) -> str:
    return SURNAMES[h * 7 % len(SURNAMES)] + GIVEN[h * 13 % len(GIVEN)] + GIVEN[h * 31 % len(GIVEN)]


class Loader:
    """COPY on PostgreSQL, batched INSERT on SQLite; sets the id sequences afterwards."""

    def __init__(self, db, is_pg: bool):
        self.db, self.is_pg, self.models = db, is_pg, []

    def __call__(self, model, rows, constants: dict | None = None) -> int:
        self.models.append(model)
        if self.is_pg:
            return copy(self.db.cursor(), model, rows, constants)
        count, batch = 0, []
        constants = constants or {}
        for row in rows:
            batch.append({**constants, **row})
            if len(batch) == 2000:
                model.insert_many(batch).execute()
                count, batch = count + len(batch), []
        if batch:
            model.insert_many(batch).execute()
            count += len(batch)
        return count

    def finish(self) -> None:
        if not self.is_pg:
            return
        for model in set(self.models):
            table = model._meta.table_name
            self.db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                f"(SELECT COALESCE(MAX(id), 1) FROM \"{table}\"))")


def build(houses: int, today: dt.date) -> dict:
    """Fill the bound database (one transaction); returns the row counts."""
    from payments.models import OrderBill, PaymentOrder
    from server import db as dbmod
    from server.audit import AuditLog
    from server.billing.models import Bill, FeeItem, FeeStandard
    from server.ledger.models import Allocation, Payment
    from server.property.models import Binding, Building, Community, House, Owner
    from server.timeutil import (add_months, day_in_month, local_midnight_utc, period_end, period_of,
                                 period_start, utcnow)
    from templates_msg.models import ReminderLog

    db, now, rng = dbmod.database, utcnow(), random.Random(11)
    load = Loader(db, dbmod.is_postgres())
    current = period_of(today)
    periods = [current, add_months(current, -1), add_months(current, -3)]
    communities = (houses + PER_COMMUNITY - 1) // PER_COMMUNITY
    counts: dict[str, int] = {}
    with db.atomic():
        load(Community, ({"id": c, "name": f"基准小区{c:04d}", "code": f"B{c:04d}"}
                         for c in range(1, communities + 1)), {"created_at": now, "address": ""})
        per = PER_COMMUNITY // PER_BUILDING
        load(Building, ({"id": b, "community": (b - 1) // per + 1, "name": f"{(b - 1) % per + 1}栋"}
                        for b in range(1, (houses + PER_BUILDING - 1) // PER_BUILDING + 1)))
        counts["houses"] = load(House, (
            {"id": h, "community": (h - 1) // PER_COMMUNITY + 1, "building": (h - 1) // PER_BUILDING + 1,
             "floor_area": Decimal(60 + h % 90) + Decimal("0.50"),
             "room_no": f"{(h - 1) % PER_BUILDING + 101}",
             "owner_name": _name(h), "owner_phone": f"139{h:08d}"} for h in range(1, houses + 1)),
            {"unit": "1单元", "created_at": now, "status": "occupied"})
        load(FeeItem, ({"id": (c - 1) * 4 + i + 1, "community": c, "code": code, "name": name}
                       for c in range(1, communities + 1) for i, (code, name, *_) in enumerate(ITEMS)),
             {"active": True, "created_at": now})
        load(FeeStandard, ({"id": (c - 1) * 4 + i + 1, "fee_item": (c - 1) * 4 + i + 1, "method": m,
                            "unit_price": Decimal(p), "unit": u}
                           for c in range(1, communities + 1) for i, (_, _, m, p, u) in enumerate(ITEMS)),
             {"version": 1, "status": "published", "effective_from": dt.date(2020, 1, 1),
              "created_at": now, "published_at": now})

        # Bills, and which (house, period) pairs are paid: decided up front, so payments
        # and allocations follow the same draw.
        paid = {(h, n) for n in range(len(periods)) for h in range(1, houses + 1)
                if rng.random() < PAID_SHARE[n]}
        amounts: dict[tuple[int, int], list[tuple[int, int]]] = {}

        def bills():
            bill_id = 0
            for n, period in enumerate(periods):
                issued = local_midnight_utc(period_start(period))
                for h in range(1, houses + 1):
                    c, area = (h - 1) // PER_COMMUNITY + 1, Decimal(60 + h % 90) + Decimal("0.50")
                    is_paid, lines = (h, n) in paid, []
                    for i, (_, _, method, price, unit) in enumerate(ITEMS):
                        qty = area if method == "per_area" else (Decimal(h % 17 + 3) if method == "metered"
                                                                  else Decimal(1))
                        amount = int((qty * Decimal(price) * 100).quantize(Decimal(1)))
                        bill_id += 1
                        if is_paid:
                            lines.append((bill_id, amount))
                        yield {"id": bill_id, "house": h, "community": c, "fee_item": (c - 1) * 4 + i + 1,
                               "standard": (c - 1) * 4 + i + 1, "period": period,
                               "period_start": period_start(period), "period_end": period_end(period),
                               "method": method, "quantity": qty, "unit": unit, "unit_price": Decimal(price),
                               "amount_fen": amount, "paid_fen": amount if is_paid else 0,
                               "status": "paid" if is_paid else "unpaid",
                               "due_date": day_in_month(period, 15), "issued_at": issued}
                    if is_paid:
                        amounts[(h, n)] = lines

        counts["bills"] = load(Bill, bills(), {
            "standard_version": 1, "months": 1, "source": "import", "adjusted_fen": 0, "late_fee_fen": 0,
            "on_hold": False, "meter_reading": None, "previous_reading": None, "current_reading": None,
            "billing_run": None})

        # Payments (one per paid house and period), WeChat orders with their lines, allocations.
        pays, orders, lines, allocs, audits = [], [], [], [], []
        weights = [w for _, w in CHANNELS]
        for (h, n), bill_lines in sorted(amounts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            period, c = periods[n], (h - 1) // PER_COMMUNITY + 1
            start = local_midnight_utc(period_start(period))
            last = min(local_midnight_utc(today),
                       local_midnight_utc(period_end(period) + dt.timedelta(days=1)))
            at = start + dt.timedelta(seconds=rng.randrange(max(1, int((last - start).total_seconds()))))
            channel = rng.choices([ch for ch, _ in CHANNELS], weights)[0]
            pid, total = len(pays) + 1, sum(a for _, a in bill_lines)
            order = None
            if channel == "wechat":
                order = len(orders) + 1
                orders.append({"id": order, "out_trade_no": f"WY{order:012d}", "community": c, "house": h,
                               "total_fen": total, "status": "paid", "created_at": at, "updated_at": at,
                               "paid_at": at, "transaction_id": f"42000{order:015d}"})
                lines.extend({"order": order, "bill": b, "amount_fen": a} for b, a in bill_lines)
            pays.append({"id": pid, "community": c, "order": order, "channel": channel, "amount_fen": total,
                         "transaction_id": f"42000{order:015d}" if order else None,
                         "payer_name": _name(h), "received_at": at, "created_at": at,
                         "receipt_no": f"B{c:04d}{pid:010d}"})
            allocs.extend({"payment": pid, "bill": b, "amount_fen": a, "created_at": at}
                          for b, a in bill_lines)
            audits.append({"at": at, "actor_type": "wechat" if order else "staff",
                           "actor_id": "" if order else "cashier", "action": "payment.recorded",
                           "entity": "payment", "entity_id": str(pid), "community_id": c,
                           "after": {"amount_fen": total, "channel": channel}})
        counts["orders"] = load(PaymentOrder, orders, {
            "owner": None, "channel": "wechat", "description": "物业费", "idempotency_key": None,
            "request_hash": "", "prepay_id": None, "expires_at": None, "closed_at": None,
            "last_queried_at": None, "next_query_at": None, "query_attempts": 0, "last_error": "",
            "remote_closed": False, "voucher_no": None, "payer_name": "", "operator": None,
            "approved_by": None, "received_on": None})
        load(OrderBill, ({"id": i, **row} for i, row in enumerate(lines, 1)), {"open_bill": None})
        counts["payments"] = load(Payment, pays, {"voucher_no": None, "operator": None,
                                                  "needs_review": False, "review_reason": "", "raw": None})
        counts["allocations"] = load(Allocation, ({"id": i, **row} for i, row in enumerate(allocs, 1)))

        # Bound owners (10 % of the houses) and reminders of their current unpaid bills.
        bound = list(range(1, houses + 1, 10))
        load(Owner, ({"id": i, "openid": f"oBENCH{i:09d}", "phone": f"138{h:08d}", "nickname": _name(h + 1)}
                     for i, h in enumerate(bound, 1)), {"created_at": now, "unionid": None})
        load(Binding, ({"id": i, "owner": i, "house": h} for i, h in enumerate(bound, 1)),
             {"role": "owner", "verified_by": "import", "status": "active", "created_at": now,
              "decided_at": None})
        sent = local_midnight_utc(day_in_month(current, 1)) + dt.timedelta(hours=9)
        counts["reminders"] = load(ReminderLog, (
            {"id": k, "bill": (h - 1) * 4 + i + 1, "owner": o}
            for k, (o, h, i) in enumerate(((o, h, i) for o, h in enumerate(bound, 1)
                                           if (h, 0) not in paid for i in range(4)), 1)),
            {"stage": "bill_issued", "template_id": "TPL", "sent_at": sent, "result": "ok",
             "errcode": None, "errmsg": "", "attempts": 1})

        # Audit: a row per payment, and staff sign-ins (no community).
        signins = ({"at": local_midnight_utc(today) - dt.timedelta(minutes=k), "actor_type": "staff",
                    "actor_id": "admin", "action": "staff.login", "entity": "staff_user", "entity_id": "1",
                    "after": None,
                    "community_id": None} for k in range(houses // 10))
        counts["audit"] = load(AuditLog, ({"id": i, **row} for i, row in
                                          enumerate(list(audits) + list(signins), 1)),
                               {"before": None, "after": None, "note": ""})
        load.finish()
    if dbmod.is_postgres():
        db.execute_sql("VACUUM ANALYZE")
    return counts


def setup(houses: int, today: dt.date) -> dict:
    """Build the dataset unless the database already has houses; the staff and their tokens."""
    from server.admin.auth import hash_password
    from server.audit import Actor
    from server.property.models import House
    from server.staff import tokens
    from server.staff.models import StaffCommunity, StaffRole, StaffUser
    from server.timeutil import add_months, period_of

    if House.select().exists():
        counts = {"houses (existing)": House.select().count()}
    else:
        counts = build(houses, today)
    tok = {}
    for name, role in (("bench_admin", StaffRole.ADMIN), ("bench_manager", StaffRole.MANAGER)):
        user = StaffUser.get_or_none(StaffUser.username == name)
        if user is None:
            user = StaffUser.create(username=name, role=role, password_hash=hash_password(PASSWORD))
            if role == StaffRole.MANAGER:
                StaffCommunity.create(staff=user, community=1)
        tok[name] = tokens.issue_token(user.id, "bench", Actor.system("bench"))[1]
    current = period_of(today)
    return {"periods": [current, add_months(current, -1), add_months(current, -3)], "tokens": tok,
            "counts": counts, "owner_word": _name(4321 % houses + 1)[:2]}


# ----------------------------------------------------------------------------- timing
class _Count(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.n = 0

    def emit(self, record):
        self.n += 1


def pages(info: dict, today: dt.date) -> list[tuple[str, str, str]]:
    """(label, path, kind) with kind "page", "api" or "cold" (a page whose dashboard
    snapshots are deleted before each request, so the figures are computed)."""
    period, old = info["periods"][0], info["periods"][2]
    since = (dt.datetime.combine(today - dt.timedelta(days=2), dt.time(), dt.timezone.utc)).isoformat()
    return [
        ("dashboard, computed", "/admin/", "cold"),
        ("dashboard, from snapshots", "/admin/", "page"),
        ("dashboard, 3 months ago", f"/admin/?period={old}", "page"),
        ("bills", "/admin/bills", "page"),
        ("bills period+open", f"/admin/bills?period={period}&status=open", "page"),
        ("bills overdue", "/admin/bills?overdue=1", "page"),
        ("bills page 500", "/admin/bills?page=500", "page"),
        ("houses owner name", f"/admin/houses?owner={info['owner_word']}", "page"),
        ("houses room", "/admin/houses?room=1" + "05", "page"),
        ("audit", "/admin/audit", "page"),
        ("reconciliation", "/admin/reconciliation", "page"),
        ("orders", "/admin/orders", "page"),
        ("api bills", f"/api/admin/v1/bills?period={period}&status=unpaid", "api"),
        ("api payments updated_since", "/api/admin/v1/payments?updated_since=" + since.replace("+", "%2B"),
         "api"),
    ]


def time_pages(app, info: dict, today: dt.date, requests: int, only: str = "",
               who_list: tuple = ("manager", "admin")) -> list[dict]:
    from server.reports.models import ReportSnapshot

    results = []
    logger = logging.getLogger("peewee")
    for who in (f"bench_{w}" for w in who_list):
        client = app.test_client()
        page = client.get("/admin/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = client.post("/admin/login", data={"username": who, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 302, r.status_code
        bearer = {"Authorization": f"Bearer {info['tokens'][who]}"}
        for label, path, kind in pages(info, today):
            if only and not re.search(only, label):
                continue
            headers = bearer if kind == "api" else {}
            times, queries, status = [], [], None
            first = time.perf_counter()
            r = client.get(path, headers=headers)
            first = time.perf_counter() - first
            n = requests if first < 2 else max(1, min(requests, int(20 / first)))
            for _ in range(n):
                if kind == "cold":
                    ReportSnapshot.delete().execute()
                handler = _Count()
                logger.addHandler(handler)
                old, logger.propagate = logger.level, False
                logger.setLevel(logging.DEBUG)
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                logger.setLevel(old)
                logger.propagate = True
                logger.removeHandler(handler)
                queries.append(handler.n)
                status = r.status_code
            times.sort()
            p95 = times[min(len(times) - 1, max(0, int(round(0.95 * len(times))) - 1))]
            row = {"who": who.removeprefix("bench_"), "label": label, "n": n, "status": status,
                   "median": statistics.median(times), "p95": p95, "queries": max(queries)}
            results.append(row)
            print(f"  {row['who']:8} {label:28} {row['median']:9.1f} {p95:9.1f} {row['queries']:5} "
                  f"{n:4} {status}", file=sys.stderr, flush=True)
    return results


def report(results: list[dict], db: str, houses: int) -> None:
    head = f"{'who':8} {'page':28} {'median ms':>9} {'p95 ms':>9} {'SQL':>5} {'n':>4} {'HTTP':>4}  target"
    print(head)
    print("-" * len(head))
    for r in results:
        limit = 300 if r["who"] == "manager" else 1000
        ok = "ok" if r["p95"] <= limit else f"OVER {limit}"
        print(f"{r['who']:8} {r['label']:28} {r['median']:9.1f} {r['p95']:9.1f} {r['queries']:5} {r['n']:4} "
              f"{r['status']:4}  {ok}")
    print(f"{db}, {houses:,} houses; Flask test client in process (no HTTP server); SQL = statements "
          "per request (max); targets at 200,000 houses on PostgreSQL: manager p95 ≤ 300 ms, admin ≤ 1 s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--houses", type=int, default=200_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--only", default="", help="regex: time only the pages whose label matches")
    parser.add_argument("--who", choices=("manager", "admin", "both"), default="both")
    parser.add_argument("--url", help="use this database (built first if it has no houses); kept afterwards")
    args = parser.parse_args()

    from server import create_app
    from server import db as dbmod
    from server import migrations
    from server.config import TestingConfig
    from server.timeutil import local_today

    folder = tempfile.mkdtemp(prefix="wuyepay-bench-")
    pg = None
    try:
        if args.url:
            url = args.url
            args.db = "postgres" if url.startswith("postgres") else "sqlite"
        elif args.db == "sqlite":
            url = f"sqlite:///{folder}/bench.db"
        else:
            from tests.pg_server import PostgresServer

            pg = PostgresServer().start()
            url = pg.create_database("bench_admin")
        db = dbmod.bind(url)
        db.connect(reuse_if_open=True)
        migrations.upgrade(db)
        today = local_today()
        began = time.perf_counter()
        info = setup(args.houses, today)
        print(f"built {args.db}: " + ", ".join(f"{v:,} {k}" for k, v in info["counts"].items())
              + f" in {time.perf_counter() - began:.0f} s", flush=True)
        db.close()
        # TESTING: no in-process scheduler thread (its late-fee catch-up would run during
        # the timing); everything else as deployed, CSRF and sign-in included.
        app = create_app(TestingConfig(INSTANCE_PATH=folder, DATABASE_URL=url, SECRET_KEY="bench-secret"))
        dbmod.database.connect(reuse_if_open=True)
        results = time_pages(app, info, today, args.requests, args.only,
                             ("manager", "admin") if args.who == "both" else (args.who,))
        report(results, args.db, args.houses)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
