"""Benchmark: signed WeChat Pay callbacks per second, end to end, against a bare endpoint.

    .venv/bin/python bench/notify.py                          # 5,000 orders, every mode
    .venv/bin/python bench/notify.py --orders 2000 --duplicates 3 --mode jobs

A throwaway PostgreSQL cluster (tests/pg_server.py) is migrated and seeded
with N orders in ``paying`` (one bill each, spread over a few communities).
Our app runs under gunicorn (2 workers, gthread, configured only through the
environment as in production, with a connection pool) and a WeChat Pay public
key generated here.  Every order gets a TRANSACTION.SUCCESS callback exactly
as WeChat builds it — AES-256-GCM resource, RSA-SHA256 ``Wechatpay-*``
headers — prepared before the clock starts; ``--duplicates D`` sends each D
times (WeChat redelivers the same notification id), shuffled.  Threads with
keep-alive connections fire them at ``POST /payments/wechatpay/notify``, after
the same number of ``GET /healthz`` on the same server.

Modes (``--mode``, default all three): ``jobs`` is the app as deployed
(``server:create_app()``): a callback is answered once verified and stored and
applied by the job backend (R15), in the same processes; ``inline`` removes the
dispatcher, so each callback is applied before it is answered; ``stored``
answers once stored and applies nothing, the endpoint's own cost (the bench
then applies the stored callbacks itself, like the sweeper).  For each: both
rates, p50/p99, their ratio (targets: ≥ 500 callbacks/s and ≥ 0.3 of the bare
endpoint), how long until every payment was booked, then the checks that
nothing was applied twice: one Payment per order, every order paid,
``check-ledger`` clean.  Exit status 1 if a check fails (or, with
``--strict``, if a target is missed).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MCHID, APPID = "1900000109", "wxd0000000000sandbox"
PUBLIC_KEY_ID = "PUB_KEY_ID_0000000000000000000000000000000001"
NOTIFY_PATH = "/payments/wechatpay/notify"
CST = dt.timezone(dt.timedelta(hours=8))
PERIODS = [f"2025-{m:02d}" for m in range(1, 13)]
CHUNK = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------ seeding
def seed(orders: int, communities: int) -> list[tuple[str, int]]:
    """N orders in ``paying``, one bill each; returns ``[(out_trade_no, total_fen)]``."""
    from payments.models import OrderBill, OrderStatus, PaymentOrder
    from server.billing.models import Bill, BillStatus, FeeItem, Method
    from server.db import transaction
    from server.property.models import Binding, Building, Community, House, Owner
    from server.timeutil import utcnow

    now = utcnow()
    owner = Owner.create(openid="oBENCH" + "0" * 22)
    per_community = -(-orders // communities)
    made: list[tuple[str, int]] = []
    for c in range(communities):
        count = min(per_community, orders - len(made))
        if count <= 0:
            break
        comm = Community.create(name=f"基准小区{c}", code=f"B{c:02d}")
        bldg = Building.create(community=comm, name="1栋")
        item = FeeItem.create(community=comm, code="WYF", name="物业费")
        houses = -(-count // len(PERIODS))
        with transaction():
            House.insert_many([{"community": comm, "building": bldg, "room_no": str(h),
                                "floor_area": Decimal("89.50")} for h in range(houses)]).execute()
        house_ids = [h.id for h in House.select(House.id).where(House.community == comm).order_by(House.id)]
        Binding.insert_many([{"owner": owner, "house": h, "verified_by": "import"}
                             for h in house_ids]).execute()
        for start in range(0, count, CHUNK):
            n = min(CHUNK, count - start)
            with transaction():
                rows, numbers = [], []
                for i in range(start, start + n):
                    amount = 10_000 + (len(made) + i - start) % 5_000
                    period = PERIODS[i % len(PERIODS)]
                    rows.append({"house": house_ids[i // len(PERIODS)], "community": comm, "fee_item": item,
                                 "period": period, "period_start": dt.date.fromisoformat(period + "-01"),
                                 "period_end": dt.date.fromisoformat(period + "-28"), "method": Method.FIXED,
                                 "quantity": Decimal(1), "unit": "户·月", "unit_price": Decimal(amount) / 100,
                                 "amount_fen": amount, "due_date": dt.date.fromisoformat(period + "-15"),
                                 "status": BillStatus.UNPAID})
                    numbers.append(f"WYBENCH{c:02d}{i:08d}{secrets.token_hex(3).upper()}")
                bill_ids = [r[0] for r in Bill.insert_many(rows).returning(Bill.id).tuples().execute()]
                order_rows = [{"out_trade_no": no, "community": comm, "owner": owner,
                               "total_fen": r["amount_fen"], "description": "物业缴费-物业费",
                               "status": OrderStatus.PAYING, "prepay_id": "wx" + no,
                               "created_at": now, "updated_at": now,
                               "expires_at": now + dt.timedelta(minutes=15),
                               "next_query_at": now + dt.timedelta(hours=1)}   # the janitor's turn: later
                              for no, r in zip(numbers, rows)]
                order_ids = [r[0] for r in PaymentOrder.insert_many(order_rows).returning(PaymentOrder.id)
                             .tuples().execute()]
                OrderBill.insert_many([{"order": o, "bill": b, "amount_fen": r["amount_fen"], "open_bill": b}
                                       for o, b, r in zip(order_ids, bill_ids, rows)]).execute()
                made += [(no, r["amount_fen"]) for no, r in zip(numbers, rows)]
    return made


# ---------------------------------------------------------------------- callbacks
def _sign_batch(args):
    """Build signed callbacks (runs in a worker process: RSA signing is the slow part)."""
    key_pem, apiv3_key, batch = args
    from payments import crypto

    key = crypto.load_private_key(key_pem)
    out = []
    for index, out_trade_no, total in batch:
        plaintext = {"appid": APPID, "mchid": MCHID, "out_trade_no": out_trade_no,
                     "transaction_id": f"4200{index:024d}", "trade_type": "JSAPI", "trade_state": "SUCCESS",
                     "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
                     "success_time": dt.datetime.now(CST).replace(microsecond=0).isoformat(),
                     "payer": {"openid": "oBENCH" + "0" * 22},
                     "amount": {"total": total, "payer_total": total, "currency": "CNY",
                                "payer_currency": "CNY"}}
        nonce = crypto.new_resource_nonce()
        body = crypto.serialize_body({
            "id": f"EV-{index:010d}-{secrets.token_hex(8)}", "create_time": plaintext["success_time"],
            "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "nonce": nonce,
                         "associated_data": "transaction",
                         "ciphertext": crypto.aes_gcm_encrypt(apiv3_key, nonce, "transaction",
                                                             crypto.serialize_body(plaintext))}})
        timestamp, header_nonce = str(int(time.time())), crypto.new_nonce(32)
        signature = crypto.sign(key, crypto.response_sign_message(timestamp, header_nonce, body))
        out.append((body, {"Content-Type": "application/json", "Wechatpay-Timestamp": timestamp,
                           "Wechatpay-Nonce": header_nonce, "Wechatpay-Serial": PUBLIC_KEY_ID,
                           "Wechatpay-Signature": signature,
                           "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}))
    return out


def build_callbacks(orders, key_pem: str, apiv3_key: str, processes: int) -> list[tuple[bytes, dict]]:
    from multiprocessing import get_context

    items = [(i, no, total) for i, (no, total) in enumerate(orders)]
    batches = [(key_pem, apiv3_key, items[i:i + 250]) for i in range(0, len(items), 250)]
    with get_context("spawn").Pool(processes) as pool:
        return [cb for part in pool.map(_sign_batch, batches) for cb in part]


# -------------------------------------------------------------------------- load
def resigner(platform_pem: str):
    """Fresh ``Wechatpay-*`` headers for a callback prepared more than 4 minutes ago
    (WeChat re-signs every attempt; ours would otherwise go stale in a long run)."""
    from payments import crypto

    key = crypto.load_private_key(platform_pem)

    def resign(body: bytes, headers: dict) -> dict:
        if time.time() - int(headers["Wechatpay-Timestamp"]) < 240:
            return headers
        timestamp, nonce = str(int(time.time())), crypto.new_nonce(32)
        return {**headers, "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": crypto.sign(key, crypto.response_sign_message(timestamp, nonce, body))}

    return resign


def fire(port: int, requests_: list[tuple[str, str, bytes, dict]], concurrency: int, resign=None):
    """Send every request over keep-alive connections from ``concurrency`` threads.

    Returns ``(elapsed_s, latencies_s, statuses)``.
    """
    queue = list(reversed(requests_))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        while True:
            with lock:
                if not queue:
                    break
                method, path, body, headers = queue.pop()
            if resign is not None and "Wechatpay-Timestamp" in headers:
                headers = resign(body, headers)
            for attempt in range(3):
                started = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (http.client.HTTPException, OSError):
                    conn.close()                     # the server closed a kept-alive socket: reconnect
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                mine.append(time.perf_counter() - started)
                codes[response.status] = codes.get(response.status, 0) + 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                break
            else:
                codes[-1] = codes.get(-1, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, statuses


def summary(name: str, elapsed: float, latencies: list[float], statuses: dict) -> float:
    rate = len(latencies) / elapsed
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{name:<10} {len(latencies):>7} requests in {elapsed:6.2f} s = {rate:8.1f}/s   "
          f"p50 {cuts[49] * 1000:6.2f} ms   p99 {cuts[98] * 1000:6.2f} ms   statuses {statuses}")
    return rate


# ----------------------------------------------------------------- inline mode
def inline_app():
    """``gunicorn 'notify:inline_app()'``: our app without the job dispatcher, so each
    callback is applied before it is answered (``payments.notify`` without ``dispatch``)."""
    from server import create_app

    app = create_app()
    app.extensions.pop("wechatpay_notify_dispatch", None)
    return app


def _store_only(event_id: int) -> None:
    """A dispatcher that hands nothing on: the bench applies the stored events itself."""


def stored_app():
    """``gunicorn 'notify:stored_app()'``: answer once stored and apply nothing (the
    endpoint's own cost, without background work competing for the CPU)."""
    from server import create_app

    app = create_app()
    app.extensions["wechatpay_notify_dispatch"] = _store_only
    return app


def apply_stored(env: dict) -> int:
    """Apply every stored callback from this process (the sweeper's function)."""
    from payments import notify
    from payments.client import client_from_config

    verifier = client_from_config(env).verifier
    merchant = notify.Merchant(MCHID, APPID)
    applied = 0
    while True:
        done = notify.reprocess_pending(verifier, merchant, limit=500)
        if not done:
            return applied
        applied += done


def wait_applied(count: int, started: float, timeout: float = 300) -> float | None:
    """Seconds from ``started`` until ``count`` stored callbacks have an outcome (None: never)."""
    from payments.models import NotifyEvent
    from payments.notify import FINAL

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if NotifyEvent.select().where(NotifyEvent.status.in_(FINAL)).count() >= count:
            return time.perf_counter() - started
        time.sleep(0.1)
    return None


# -------------------------------------------------------------------------- main
MODES = {
    "jobs": ("server:create_app()", "as deployed: answered once stored, applied by the job backend"),
    "inline": ("notify:inline_app()", "each callback applied before it is answered"),
    "stored": ("notify:stored_app()", "answered once stored, applied by the bench after the load"),
}


def start_gunicorn(env: dict, port: int, args, app_spec: str) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    cmd = [gunicorn, "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
           "--worker-class", args.worker_class, "--threads", str(args.threads),
           "--keep-alive", "5", "--backlog", "2048", "--log-level", "warning", app_spec]
    # The server's own log (job runs, the embedded scheduler's attempts to reach the
    # WeChat API, which is not there) goes to a file, not into the figures.
    log = open(Path(env["WUYEPAY_INSTANCE_PATH"]) / "gunicorn.log", "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not become ready")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_mode(mode: str, pg, args, keys: dict, workdir: Path) -> bool:
    """One database, one gunicorn, bare then callbacks; returns whether every check passed."""
    from server import db as dbmod
    from server import migrations

    print(f"\n== {mode}: " + MODES[mode][1])
    url = pg.create_database(f"wuyepay_bench_{mode}")
    db = dbmod.bind(url)
    migrations.upgrade(db)
    t0 = time.perf_counter()
    orders = seed(args.orders, args.communities)
    callbacks = build_callbacks(orders, keys["platform_pem"], keys["apiv3_key"], os.cpu_count() or 2)
    print(f"seeded {len(orders)} orders in paying and signed their callbacks "
          f"in {time.perf_counter() - t0:.1f} s")
    # A connection pool per worker (peewee's postgresql+pool): connecting per request
    # would cost a PostgreSQL backend fork each time.  Room for the request threads,
    # the embedded job backend's threads and the scheduler.
    pooled = url.replace("postgresql://", "postgresql+pool://", 1) + \
        f"?max_connections={args.threads + 12}&stale_timeout=300"
    env = {**os.environ, "DATABASE_URL": pooled, "DEMO_MODE": "0", "WUYEPAY_INSTANCE_PATH": str(workdir),
           "SECRET_KEY": "bench-" + "0" * 40, "WECHATPAY_MCHID": MCHID, "WECHAT_APPID": APPID,
           "WECHATPAY_MERCHANT_SERIAL": "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
           "WECHATPAY_PRIVATE_KEY_FILE": str(workdir / "apiclient_key.pem"),
           "WECHATPAY_APIV3_KEY": keys["apiv3_key"], "WECHATPAY_PUBLIC_KEY_ID": PUBLIC_KEY_ID,
           "WECHATPAY_PUBLIC_KEY_FILE": str(workdir / "wechatpay_public_key.pem"),
           "WECHATPAY_API_BASE": "http://127.0.0.1:9",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")])}
    port = _free_port()
    spec = MODES[mode][0]
    proc = start_gunicorn(env, port, args, spec)
    try:
        print(f"gunicorn '{spec}': {args.workers} workers, {args.worker_class}"
              f"{f' × {args.threads} threads' if args.worker_class == 'gthread' else ''}; "
              f"{args.concurrency} client threads with keep-alive; {os.cpu_count()} CPUs")
        sends = [("POST", NOTIFY_PATH, body, headers)
                 for body, headers in callbacks] * max(1, args.duplicates)
        random.Random(7).shuffle(sends)
        bare = [("GET", "/healthz", None, {}) for _ in range(len(sends))]
        fire(port, bare[:500], args.concurrency)                       # warm up both workers
        # Each worker's verifier tries its first platform-certificate download on its first
        # callback (then at most once a minute): a callback with a bad signature triggers it
        # here, outside the timed window, without writing anything.
        body, headers = callbacks[0]
        probe = {**headers, "Wechatpay-Signature": "AAAA", "Connection": "close"}   # spread over workers
        fire(port, [("POST", NOTIFY_PATH, body, probe)] * 64, args.concurrency)
        bare_rate = summary("bare", *fire(port, bare, args.concurrency))
        started = time.perf_counter()
        elapsed, latencies, statuses = fire(port, sends, args.concurrency, resigner(keys["platform_pem"]))
        notify_rate = summary("callbacks", elapsed, latencies, statuses)
        if mode == "stored":
            apply_stored(env)
        applied_after = wait_applied(len(orders), started) if statuses.get(204) == len(sends) else None
    finally:
        stop_gunicorn(proc)
    ratio = notify_rate / bare_rate
    print(f"ratio      {ratio:.2f} of the bare endpoint   "
          f"(targets: ≥ 500/s {'met' if notify_rate >= 500 else 'MISSED'}, "
          f"≥ 0.3 {'met' if ratio >= 0.3 else 'MISSED'})")
    if applied_after is None:
        print("applied    NOT every payment was booked (see the checks)")
    else:
        print(f"applied    all {len(orders)} payments booked {applied_after:.2f} s after the first callback "
              f"= {len(orders) / applied_after:.1f} payments/s end to end")
    ok = verify(orders, statuses, len(sends))
    db.close()
    return ok and not (args.strict and (notify_rate < 500 or ratio < 0.3))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--duplicates", type=int, default=1, help="deliveries of each callback (≥ 1)")
    parser.add_argument("--mode", choices=(*MODES, "all"), default="all",
                        help="; ".join(f"{name}: {text}" for name, (_, text) in MODES.items()))
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--communities", type=int, default=10)
    parser.add_argument("--strict", action="store_true", help="also fail when a target is missed")
    args = parser.parse_args()

    from Crypto.PublicKey import RSA

    from payments import crypto
    from tests.pg_server import PostgresServer

    workdir = Path(tempfile.mkdtemp(prefix="wuyepay-bench-"))
    merchant, platform = RSA.generate(2048), RSA.generate(2048)
    keys = {"platform_pem": crypto.private_key_pem(platform), "apiv3_key": crypto.new_nonce(32)}
    (workdir / "apiclient_key.pem").write_text(crypto.private_key_pem(merchant))
    (workdir / "wechatpay_public_key.pem").write_text(crypto.public_key_pem(platform))
    pg = PostgresServer().start()
    try:
        modes = tuple(MODES) if args.mode == "all" else (args.mode,)
        results = [run_mode(mode, pg, args, keys, workdir) for mode in modes]
        return 0 if all(results) else 1
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def verify(orders, statuses: dict, sent: int) -> bool:
    """Nothing applied twice, nothing lost."""
    from payments.models import NotifyEvent, OrderStatus, PaymentOrder
    from server.ledger.check import check_ledger
    from server.ledger.models import Allocation, Payment

    payments = Payment.select().count()
    paid = PaymentOrder.select().where(PaymentOrder.status == OrderStatus.PAID).count()
    allocations = Allocation.select().count()
    events = NotifyEvent.select().count()
    applied = NotifyEvent.select().where(NotifyEvent.status == "applied").count()
    drift = check_ledger()
    checks = {
        f"every callback answered 204 ({statuses})": statuses.get(204, 0) == sent,
        f"one Payment per order ({payments} == {len(orders)})": payments == len(orders),
        f"every order paid ({paid})": paid == len(orders),
        f"one allocation per order ({allocations})": allocations == len(orders),
        f"one stored event per notification id ({events})": events == len(orders),
        f"each event applied once ({applied})": applied == len(orders),
        f"check-ledger clean ({len(drift)} drifts)": not drift,
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return all(checks.values())


if __name__ == "__main__":
    sys.exit(main())
