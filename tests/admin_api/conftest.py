"""Staff API fixtures: the app with /api/admin/v1 installed, and a world of two
communities A and B with staff of every role, their tokens, and records of
every kind in both communities (built through the domain services)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from payments import offline
from payments import refunds as refund_service
from server import db as dbmod
from server.admin_api import init_app
from server.alerts import Alert
from server.audit import Actor
from server.billing import runs
from server.billing.models import Adjustment, AdjustmentKind, AdjustmentStatus
from server.disputes.models import Dispute, DisputeReason
from server.ledger.models import Payment
from payments.models import OrderBill, OrderStatus, PaymentOrder
from server.billing import standards
from server.owners import bindings
from server.property.models import Binding, BindingStatus, Owner
from server.tasks.models import AdminTask
from server.timeutil import utcnow
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.staff import tokens
from server.staff.models import StaffCommunity, StaffRole, StaffUser
from tests import factories as f

PERIOD = "2026-03"


@pytest.fixture
def api_app(database, make_app):
    app = make_app(database.test_url)
    init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    return app


@pytest.fixture
def api(api_app):
    return api_app.test_client()


def make_staff(username: str, role: str, communities=()) -> StaffUser:
    user = StaffUser.create(username=username, role=role)
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


def token_for(user: StaffUser, days: int = 30) -> str:
    return tokens.issue_token(user.id, f"{user.username}-erp", Actor.system("test"), ttl_days=days)[1]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Side:
    """One community's records."""

    estate: f.Estate
    bills: list = field(default_factory=list)
    payment: object = None
    refund: object = None
    run_id: int = 0
    adjustment: object = None
    dispute: object = None
    alert: object = None
    recon_item: object = None
    pending_order: object = None     # an offline receipt waiting for approval
    wechat_order: object = None
    binding: object = None           # a pending binding request
    binding_code: object = None
    standard: object = None          # a draft standard of 物业费
    task: object = None

    @property
    def community(self):
        return self.estate.community


@dataclass
class World:
    a: Side
    b: Side
    staff: dict
    tokens: dict

    def headers(self, who: str) -> dict:
        return bearer(self.tokens[who])


def _side(cashier: StaffUser, approver: StaffUser, n: int) -> Side:
    side = Side(f.estate(n_houses=2, water=True))
    items = side.estate.items
    for h in side.estate.houses:
        side.bills.append(f.bill(h, items["WYF"], period="2026-01", amount_fen=25_000))
        side.bills.append(f.bill(h, items["TCF"], period="2026-01", amount_fen=15_000))
    order = offline.record_offline_payment(
        side.community.id, [(side.bills[0].id, 25_000)], "cash", f"V-{n}-1", "业主", Actor.staff(cashier),
        approval_threshold_fen=10**9, received_on=dt.date(2026, 1, 20))
    side.payment = Payment.get(Payment.order == order.id)
    side.refund = refund_service.request_refund(side.payment.id, side.bills[0].id, 1_000, "多缴",
                                                Actor.staff(cashier), request_key=f"seed-{n}")
    side.run_id = runs.preview_run(side.community.id, PERIOD, Actor.staff(approver)).run_id
    side.adjustment = Adjustment.create(bill=side.bills[1], kind=AdjustmentKind.DISCOUNT, amount_fen=-2_000,
                                        reason="待审批", status=AdjustmentStatus.PENDING,
                                        requested_by=cashier)
    owner = Owner.create(openid=f"o-world-{n}")
    side.dispute = Dispute.create(bill=side.bills[1], owner=owner, reason=DisputeReason.AMOUNT,
                                  text="金额不对")
    side.alert = Alert.create(kind="test", message=f"告警 {n}", community_id=side.community.id)
    run = ReconciliationRun.get_or_create(bill_date=dt.date(2026, 1, 21), defaults={"status": "done"})[0]
    side.recon_item = ReconciliationItem.create(run=run, kind="amount_mismatch", reference=f"T{n}",
                                                out_trade_no=order.out_trade_no, remote_fen=1, local_fen=2)
    side.pending_order = offline.record_offline_payment(
        side.community.id, [(side.bills[2].id, 5_000)], "pos", f"P-{n}-1", "王五", Actor.staff(cashier),
        approval_threshold_fen=1_000, received_on=dt.date(2026, 1, 21))
    now = utcnow()
    side.wechat_order = PaymentOrder.create(
        out_trade_no=f"WX{n}", community=side.community, total_fen=15_000, status=OrderStatus.PAYING,
        created_at=now - dt.timedelta(minutes=30), expires_at=now - dt.timedelta(minutes=1))
    OrderBill.create(order=side.wechat_order, bill=side.bills[1], amount_fen=15_000)
    asker = Owner.create(openid=f"o-asker-{n}", nickname=f"申请人{n}", phone=f"1390000000{n}")
    side.binding = Binding.create(owner=asker, house=side.estate.houses[1], role="tenant",
                                  verified_by="staff", status=BindingStatus.PENDING)
    side.binding_code = bindings.issue_binding_code(side.estate.houses[0].id, "family",
                                                    Actor.staff(cashier))[1]
    side.standard = standards.create_standard(
        items["WYF"].id, Actor.staff(approver), method="per_area", unit_price="2.8000",
        effective_from=dt.date(2027, 1, 1))
    side.task = AdminTask.create(kind="billing_issue", label=f"出账 {n}", community_id=side.community.id,
                                 staff_id=approver.id, created_by=approver.username)
    return side


@pytest.fixture
def world(api_app) -> World:
    admin = make_staff("boss", StaffRole.ADMIN)
    cashier_a = make_staff("cashier_a", StaffRole.CASHIER)
    manager_a = make_staff("manager_a", StaffRole.MANAGER)
    viewer_a = make_staff("viewer_a", StaffRole.VIEWER)
    cashier_b = make_staff("cashier_b", StaffRole.CASHIER)
    manager_b = make_staff("manager_b", StaffRole.MANAGER)
    a = _side(cashier_a, manager_a, 1)
    b = _side(cashier_b, manager_b, 2)
    for user in (cashier_a, manager_a, viewer_a):
        StaffCommunity.create(staff=user, community=a.community)
    for user in (cashier_b, manager_b):
        StaffCommunity.create(staff=user, community=b.community)
    staff = {"admin": admin, "cashier_a": cashier_a, "manager_a": manager_a, "viewer_a": viewer_a,
             "cashier_b": cashier_b, "manager_b": manager_b}
    return World(a, b, staff, {name: token_for(user) for name, user in staff.items()})


@pytest.fixture
def inline_jobs():
    """Tasks run in the request (their job, enqueued, runs at once)."""
    from jobs import backends

    backends.use_backend(backends.InlineBackend())
    yield
    backends.use_backend(None)


class HeldJobs:
    """A job backend that keeps what is enqueued (a task stays queued)."""

    def __init__(self):
        self.enqueued = []

    def enqueue(self, spec, args, job_id):
        self.enqueued.append((spec.name, args))


@pytest.fixture
def held_jobs():
    from jobs import backends

    held = HeldJobs()
    backends.use_backend(held)
    yield held
    backends.use_backend(None)
