"""The demo's WeChat side, against the sandbox mounted the way ``wuyepay serve`` mounts it.

After the counter payments of :mod:`server.demo`, ``wuyepay demo``:

1. serves a small app of ours (the WeChat Pay callback endpoint with the
   sandbox mounted at ``/_sandbox/wechat``) on a free local port;
2. binds owners through the mini-program path: a ``wx.login()`` code from the
   sandbox exchanged by :func:`server.owners.sessions.login`, then a phone
   code bound by :func:`server.owners.bindings.bind_by_phone`; each owner
   accepts the reminder, receipt and dispute templates twice (reported to us
   and known to the sandbox);
3. pays some bills by WeChat Pay through the real path — ``create_order``,
   ``start_payment`` (prepay over HTTP), the sandbox's payer, the signed
   callback to our endpoint, settlement — two of them on yesterday's date;
4. runs, through the jobs the scheduler runs, the outbox relay (receipt
   messages), one reminder run and the daily reconciliation (yesterday).

The sandbox's memory (orders, quotas, received messages) is saved to
``WECHAT_SANDBOX_STATE_FILE``, so the served sandbox shows the messages at
``/_sandbox/wechat/messages`` and still knows the orders.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import threading
import time
from pathlib import Path

from flask import Flask
from werkzeug.serving import make_server

from server.billing.models import Bill, BillStatus
from server.property.models import Community, House, HouseStatus
from server.timeutil import SHANGHAI, utcnow

log = logging.getLogger(__name__)

OWNERS_PER_COMMUNITY = 10
PAYERS_PER_COMMUNITY = 4
PAID_YESTERDAY = 2                   # of the payers, in all
QUOTA_EACH = 2                       # accepts per template and owner
DAY = 86400


@dataclasses.dataclass
class _Served:
    app: Flask
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()
        self.app.extensions["wechat_sandbox"].close()


def _serve(config) -> tuple[_Served, object]:
    """Our callback endpoint + the mounted sandbox on 127.0.0.1:<free port>."""
    import payments.views
    from payments.sandbox.server import _QuietHandler
    from server import db as dbmod

    server = make_server("127.0.0.1", 0, lambda env, start: [], threaded=True, request_handler=_QuietHandler)
    base = f"http://127.0.0.1:{server.server_port}"
    config = dataclasses.replace(config, PUBLIC_BASE_URL=base, WECHATPAY_NOTIFY_URL="")
    app = Flask("wuyepay_demo")
    app.config.from_mapping(config.as_flask_mapping())
    app.extensions["wuyepay_config"] = config

    @app.teardown_request
    def _close(exc):                 # each callback request closes its own connection
        if not dbmod.database.is_closed():
            dbmod.database.close()

    payments.views.init_app(app)     # demo mode: configure_demo mounts the sandbox
    server.app = app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="wuyepay-demo", daemon=True)
    thread.start()
    return _Served(app, server, thread), config


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def reminder_instant(now: dt.datetime) -> dt.datetime:
    """``now``, or the last 20:30 Shanghai time when ``now`` is in the quiet hours."""
    from templates_msg.reminders import in_quiet_hours

    if not in_quiet_hours(now):
        return now
    local = now.astimezone(SHANGHAI)
    day = local.date() if local.hour >= 21 else local.date() - dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(20, 30), tzinfo=SHANGHAI)


def _owners(state, wxa, rng: random.Random, config) -> list[tuple]:
    """Owners of occupied houses with open bills, bound through the mini-program path."""
    from server.owners.bindings import bind_by_phone
    from server.owners.sessions import login
    from templates_msg import registry
    from templates_msg.subscriptions import record_results

    kinds = [registry.Kind.BILL_ISSUED, registry.Kind.DUE_SOON, registry.Kind.OVERDUE,
             registry.Kind.PAYMENT_SUCCESS, registry.Kind.DISPUTE_REPLY]
    bound = []
    for community in Community.select().order_by(Community.id):
        with_open_bills = Bill.select(Bill.house).where(Bill.status.in_(BillStatus.OPEN))
        houses = list(House.select().where(House.community == community, House.status == HouseStatus.OCCUPIED,
                                           House.id.in_(with_open_bills)).order_by(House.id))
        chosen = rng.sample(houses, min(OWNERS_PER_COMMUNITY, len(houses)))
        for house in sorted(chosen, key=lambda h: h.id):
            openid = f"oDEMO{community.code}{house.id:06d}wx"
            owner = login(wxa, state.mp.issue_login_code(openid), user_agent="demo").owner
            bind_by_phone(wxa, owner.id, state.mp.issue_phone_code(house.owner_phone), house.id)
            for kind in kinds:
                template_id = registry.template_for(kind, config).template_id
                for _ in range(QUOTA_EACH):
                    record_results(owner.id, {template_id: "accept"})
                state.mp.grant_subscription(openid, template_id, QUOTA_EACH)
            bound.append((community, house, owner))
    return bound


def _pay(state, client, owner, house, days_back: int = 0) -> bool:
    """One WeChat Pay payment of the house's oldest open period, through the real path."""
    from payments.models import OrderStatus, PaymentOrder
    from payments.orders import create_order
    from payments.service import start_payment

    bills = list(Bill.select().where(Bill.house == house.id, Bill.status.in_(BillStatus.OPEN))
                 .order_by(Bill.period, Bill.id))
    if not bills:
        return False
    ids = [b.id for b in bills if b.period == bills[0].period]
    order, _ = create_order(owner.id, ids, idempotency_key=f"demo-{house.id}")
    prepay_id = start_payment(order, client, owner.openid)["package"].removeprefix("prepay_id=")
    # The payer confirms.  "Days back": the sandbox's clock is that far back while it
    # records the payment; holding its lock keeps the callback's signature (made
    # by the notifier thread under the same lock) on today's clock.
    with state.lock:
        state.advance(-DAY * days_back)
        try:
            state.ledger.pay(prepay_id, "success")
        finally:
            state.advance(DAY * days_back)
    return _wait(lambda: PaymentOrder.select(PaymentOrder.status)
                 .where(PaymentOrder.id == order.id).scalar() == OrderStatus.PAID)


def run(config, *, seed: int = 20261123, now: dt.datetime | None = None) -> dict:
    """The WeChat part of the demo (demo mode only); returns what it did."""
    from jobs import backends, core, runtime
    from jobs import outbox as outbox_jobs
    from jobs import reminders as reminder_jobs
    from payments.gateway import client_for
    from payments.sandbox import persist
    from server import audit
    from server.reconciliation.models import ReconciliationRun
    from server.wxa import MiniProgramClient
    from templates_msg.models import ReminderLog, ReminderResult
    from templates_msg.reminders import set_policy

    if not config.DEMO_MODE or config.WECHATPAY_API_BASE:
        return {"wechat": "skipped (not in demo mode)"}
    state_file = Path(config.WECHAT_SANDBOX_STATE_FILE)
    state_file.unlink(missing_ok=True)          # a new demo starts a new sandbox history
    rng = random.Random(seed + 1)
    served, config = _serve(config)
    state = served.app.extensions["wechat_sandbox"]
    client, wxa = client_for(config), MiniProgramClient.from_config(config)
    previous_backend = backends._backend
    runtime.configure(config, client)
    backends.use_backend(backends.InlineBackend())
    reminder_jobs.use_client(wxa)
    try:
        jy = Community.get_or_none(Community.code == "JY")
        if jy is not None:   # 锦苑 reminds every day after the due date, 7 times at most
            set_policy(jy.id, audit.Actor.system("demo"), due_soon_days=5, overdue_every_days=1,
                       overdue_max=7)
        bound = _owners(state, wxa, rng, config)
        paid = paid_yesterday = 0
        by_community: dict[int, int] = {}
        for community, house, owner in bound:
            if by_community.get(community.id, 0) >= PAYERS_PER_COMMUNITY:
                continue
            yesterday = paid_yesterday < PAID_YESTERDAY
            if _pay(state, client, owner, house, 1 if yesterday else 0):
                by_community[community.id] = by_community.get(community.id, 0) + 1
                paid += 1
                paid_yesterday += yesterday
        now = now or utcnow()
        mismatched = _reconcile_with_a_difference(state, client, bound, now)
        _owner_questions(bound, rng)
        outbox_jobs.relay()                                         # the receipt messages
        core.spec_for("reminders.send_due_reminders").enqueue(reminder_instant(now).isoformat())
        core.spec_for("reconciliation.daily").enqueue(now.isoformat())
        persist.save(state, state_file)
    finally:
        reminder_jobs.use_client(None)
        backends.use_backend(previous_backend)
        runtime.configure(None)
        served.stop()
    yesterday_run = ReconciliationRun.get_or_none(
        ReconciliationRun.bill_date == now.astimezone(SHANGHAI).date() - dt.timedelta(days=1))
    return {"wechat_owners": len(bound), "wechat_payments": paid + mismatched,
            "reminders_sent": ReminderLog.select().where(ReminderLog.result == ReminderResult.SENT).count(),
            "reconciled": (f"{yesterday_run.bill_date} {yesterday_run.remote_rows} row(s), "
                           f"{yesterday_run.differences} difference(s)") if yesterday_run else "no run"}


def _reconcile_with_a_difference(state, client, bound, now: dt.datetime) -> int:
    """One more WeChat payment, two days ago, reconciled against that day's trade bill
    as the sandbox renders it with the order's amount raised by 1 yuan: an open
    ``amount_mismatch`` difference (and its alert) for staff to look into."""
    import copy
    import io
    import types

    from payments.sandbox.bills import render_bill
    from server.reconciliation.service import reconcile_file

    if not bound:
        return 0
    _, house, owner = bound[-1]
    if not _pay(state, client, owner, house, days_back=2):
        return 0
    day = now.astimezone(SHANGHAI).date() - dt.timedelta(days=2)
    with state.lock:
        orders = {}
        for key, order in state.ledger.orders.items():
            orders[key] = order = copy.deepcopy(order)
            paid_on = order.success_time and dt.datetime.fromtimestamp(order.success_time, SHANGHAI).date()
            if paid_on == day:
                order.request["amount"]["total"] += 100
        data = render_bill(types.SimpleNamespace(orders=orders, refunds={}), day)
    reconcile_file(day, io.BytesIO(data), mchid=client.mchid, appid=client.appid)
    return 1


def _owner_questions(bound, rng: random.Random) -> None:
    """An owner questions a bill (and adds a message); another asks to be bound to a
    relative's house, which waits for staff approval."""
    from server.disputes.models import DisputeReason
    from server.disputes.services import open_dispute, owner_message
    from server.owners.bindings import request_binding
    from server.property.models import BindingRole

    for _, house, owner in bound:
        bill = (Bill.select().where(Bill.house == house.id, Bill.status.in_(BillStatus.OPEN))
                .order_by(Bill.amount_fen.desc(), Bill.id).first())
        if bill is not None:
            dispute = open_dispute(owner.id, bill.id, DisputeReason.READING,
                                   "这个月的费用比平时高出很多，家里这段时间没怎么住人，麻烦核对一下读数。")
            owner_message(owner.id, dispute.id, "补充：我拍了表上的读数照片，方便的话请物业上门再看一下。")
            break
    if len(bound) >= 2:
        community, _, requester = bound[1]
        own = {h.id for _, h, o in bound if o.id == requester.id}
        houses = list(House.select().where(House.community == community, House.id.not_in(own))
                      .order_by(House.id).limit(50))
        if houses:
            request_binding(requester.id, rng.choice(houses).id, BindingRole.FAMILY)
