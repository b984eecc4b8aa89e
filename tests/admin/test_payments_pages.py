"""Payment pages with the Flask test client: offline payments and receipts, the daily
cash close, WeChat orders, payment detail and refunds; scope, roles and CSRF."""
from __future__ import annotations

import datetime as dt
import functools
import io
import re
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook

from payments import offline
from payments.models import CashClose, NotifyEvent, OrderBill, OrderStatus, PaymentOrder
from server.audit import Actor, AuditLog
from server.billing.models import Bill, BillStatus
from server.ledger.models import Payment, Refund, RefundStatus
from server.staff.models import StaffRole
from server.timeutil import local_today, utcnow
from tests import factories as f
from tests.admin.conftest import PASSWORD, csrf_token, login


@functools.lru_cache(maxsize=1)
def _password_hash() -> str:
    from server.admin.auth import hash_password

    return hash_password(PASSWORD)


def make_staff(username, role, communities=()):
    """``conftest.make_staff`` with the argon2 hash computed once per session (fast setup)."""
    from server.staff.models import StaffCommunity, StaffUser

    user = StaffUser.create(username=username, role=role, password_hash=_password_hash())
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


@dataclass
class World:
    a: object
    b: object
    house_a: object
    house_b: object
    bills_a: list
    bill_b: object


@pytest.fixture
def world(admin_app):
    a, b = f.community("阳光小区", "A"), f.community("翠湖苑", "B")
    house_a = f.house(a, f.building(a, "1栋"), room_no="101")
    house_a.owner_name = "张三"
    house_a.save()
    house_b = f.house(b, f.building(b, "9栋"), room_no="901")
    wyf, tcf = f.fee_item(a, "WYF", "物业费"), f.fee_item(a, "TCF", "停车费")
    bills_a = [f.bill(house_a, wyf, period="2026-01", amount_fen=25_000),
               f.bill(house_a, tcf, period="2026-01", amount_fen=15_000)]
    bill_b = f.bill(house_b, f.fee_item(b, "WYF", "物业费"), period="2026-01", amount_fen=20_000)
    make_staff("cashier", StaffRole.CASHIER, [a])
    make_staff("cashier2", StaffRole.CASHIER, [a])
    make_staff("manager", StaffRole.MANAGER, [a, b])
    make_staff("viewer", StaffRole.VIEWER, [a, b])
    return World(a, b, house_a, house_b, bills_a, bill_b)


def signed_in(admin_app, username):
    c = admin_app.test_client()
    login(c, username)
    return c


def post(c, path, data=None, token_from="/admin/offline-payments"):
    return c.post(path, data={**(data or {}), "csrf_token": csrf_token(c, token_from)})


def record(c, house, allocations, channel="cash", voucher=""):
    data = {"house": house.id, "channel": channel, "voucher_no": voucher, "payer_name": "张三",
            "form_key": f"k{house.id}{voucher}{len(allocations)}{channel}",
            "bill": [b.id for b, _ in allocations]}
    data.update({f"amount_{b.id}": yuan for b, yuan in allocations})
    return post(c, "/admin/offline-payments", data)


def flashes(response) -> str:
    return " ".join(re.findall(r'class="flash [a-z]+"[^>]*>([^<]*)<', response.get_data(as_text=True)))


def book(world, username="cashier", channel="cash", voucher="V1", amounts=(25_000, 15_000)):
    """An offline payment booked through the domain (setup for refund and close tests)."""
    from server.staff.models import StaffUser

    actor = Actor.staff(StaffUser.get(StaffUser.username == username))
    order = offline.record_offline_payment(world.a.id, list(zip([b.id for b in world.bills_a], amounts)),
                                           channel, voucher, "张三", actor, approval_threshold_fen=10**9)
    return Payment.get(Payment.order == order.id)


# ------------------------------------------------------------------ offline payments
def test_cashier_finds_a_house_by_building_and_room_and_sees_its_open_bills(admin_app, world):
    c = signed_in(admin_app, "cashier")
    page = c.get(f"/admin/offline-payments?community={world.a.id}&building=1栋&room=10").get_data(as_text=True)
    assert "1栋-101" in page and "张三" in page
    page = c.get(f"/admin/offline-payments?house={world.house_a.id}").get_data(as_text=True)
    assert 'name="amount_%d" value="250.00"' % world.bills_a[0].id in page
    assert "停车费" in page and "登记收款" in page


def test_a_cash_payment_for_two_bills_is_booked_and_opens_its_receipt(admin_app, world):
    c = signed_in(admin_app, "cashier")
    response = record(c, world.house_a, [(world.bills_a[0], "250.00"), (world.bills_a[1], "150.00")])
    assert response.status_code == 302
    number = response.headers["Location"].rsplit("/", 1)[1]
    assert number.startswith("A")
    receipt = c.get(f"/admin/receipts/{number}").get_data(as_text=True)
    assert "肆佰元整" in receipt and "¥400.00" in receipt and "2026年1月" in receipt
    assert "cashier" in receipt and "现金" in receipt and "业主 张三" in receipt
    assert all(Bill.get_by_id(b.id).status == BillStatus.PAID for b in world.bills_a)
    row = AuditLog.get(AuditLog.action == "offline_payment.record")
    assert row.after["total_fen"] == 40_000 and row.actor_id == "cashier"


def test_a_partial_amount_leaves_the_bill_partially_paid(admin_app, world):
    c = signed_in(admin_app, "cashier")
    record(c, world.house_a, [(world.bills_a[0], "100.50")])
    bill = Bill.get_by_id(world.bills_a[0].id)
    assert (bill.paid_fen, bill.status) == (10_050, BillStatus.PARTIALLY_PAID)


@pytest.mark.parametrize("channel, voucher, amount, message", [
    ("bank_transfer", "", "250.00", "请填写凭证号"),
    ("cash", "", "250.01", "金额须在 0.01 到 250.00 元之间"),
    ("cash", "", "12.345", "金额格式不正确"),
])
def test_a_refused_payment_shows_its_message_and_changes_nothing(
        admin_app, world, channel, voucher, amount, message):
    c = signed_in(admin_app, "cashier")
    response = record(c, world.house_a, [(world.bills_a[0], amount)], channel=channel, voucher=voucher)
    assert response.headers["Location"].endswith(f"/admin/offline-payments?house={world.house_a.id}")
    assert message in flashes(c.get(response.headers["Location"]))
    assert PaymentOrder.select().count() == 0 and Bill.get_by_id(world.bills_a[0].id).paid_fen == 0


def test_a_voucher_number_used_before_is_refused(admin_app, world):
    c = signed_in(admin_app, "cashier")
    record(c, world.house_a, [(world.bills_a[0], "10.00")], channel="pos", voucher="POS-1")
    response = record(c, world.house_a, [(world.bills_a[1], "10.00")], channel="pos", voucher="POS-1")
    assert "凭证号已登记过" in flashes(c.get(response.headers["Location"]))
    assert Bill.get_by_id(world.bills_a[1].id).paid_fen == 0


def test_above_the_threshold_a_manager_approves_before_the_money_is_booked(admin_app, world):
    admin_app.extensions["wuyepay_config"].OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN = 30_000
    c = signed_in(admin_app, "cashier")
    response = record(c, world.house_a, [(world.bills_a[0], "250.00"), (world.bills_a[1], "150.00")])
    assert "等待另一名工作人员审批" in flashes(c.get(response.headers["Location"]))
    order = PaymentOrder.get()
    assert order.status == OrderStatus.CREATED and Payment.select().count() == 0
    m = signed_in(admin_app, "manager")
    assert "审批入账" in m.get("/admin/offline-payments").get_data(as_text=True)
    response = post(m, f"/admin/offline-payments/{order.id}/approve")
    assert "/admin/receipts/A" in response.headers["Location"]
    assert PaymentOrder.get_by_id(order.id).approved_by.username == "manager"
    assert Bill.get_by_id(world.bills_a[0].id).status == BillStatus.PAID


def test_a_rejected_payment_books_nothing_and_releases_its_bills(admin_app, world):
    admin_app.extensions["wuyepay_config"].OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN = 100
    record(signed_in(admin_app, "cashier"), world.house_a, [(world.bills_a[0], "250.00")])
    order = PaymentOrder.get()
    post(signed_in(admin_app, "manager"), f"/admin/offline-payments/{order.id}/reject", {"note": "假币"})
    assert PaymentOrder.get_by_id(order.id).status == OrderStatus.CLOSED
    assert OrderBill.get().open_bill_id is None and Payment.select().count() == 0


def test_the_offline_list_filters_and_exports_csv_and_xlsx(admin_app, world):
    book(world, channel="pos", voucher="POS-9", amounts=(25_000, 15_000))
    c = signed_in(admin_app, "manager")
    page = c.get("/admin/offline-payments/list?channel=pos").get_data(as_text=True)
    assert "POS-9" in page and "400.00" in page
    assert "POS-9" not in c.get("/admin/offline-payments/list?channel=cash").get_data(as_text=True)
    csv_text = c.get("/admin/offline-payments/list?export=csv").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("收据号,小区,房屋") and ",400.00," in csv_text
    book_ = load_workbook(io.BytesIO(c.get("/admin/offline-payments/list?export=xlsx").get_data()))
    rows = list(book_.active.values)
    assert rows[1][4] == "POS刷卡" and rows[1][7] == "400.00"


# ---------------------------------------------------------------------- cash close
def test_the_cash_close_totals_by_channel_and_locks_the_cashiers_day(admin_app, world):
    book(world, channel="cash", voucher="C1", amounts=(10_000, 5_000))
    book(world, channel="pos", voucher="P1", amounts=(15_000, 10_000))
    c = signed_in(admin_app, "cashier")
    page = c.get(f"/admin/cash-close?community={world.a.id}").get_data(as_text=True)
    assert "150.00" in page and "250.00" in page and 'id="cash-total">400.00' in page
    today = local_today().isoformat()
    response = post(c, "/admin/cash-close", {"community": world.a.id, "date": today})
    assert "已日结：2 笔，合计 400.00 元" in flashes(c.get(response.headers["Location"]))
    close = CashClose.get()
    assert close.totals == {"cash": 15_000, "pos": 25_000}
    assert AuditLog.get(AuditLog.action == "cash.close").after["totals"] == close.totals
    bill = f.bill(world.house_a, world.bills_a[0].fee_item, period="2026-02", amount_fen=1_000)
    response = record(c, world.house_a, [(bill, "10.00")])
    assert "已日结，不能再登记收款" in flashes(c.get(response.headers["Location"]))
    history = c.get("/admin/cash-close?export=csv").get_data().decode("utf-8-sig")
    assert today in history and "400.00" in history


def test_a_cashier_cannot_close_another_cashiers_day_but_a_manager_can(admin_app, world):
    from server.staff.models import StaffUser

    other = StaffUser.get(StaffUser.username == "cashier2")
    today = local_today().isoformat()
    data = {"community": world.a.id, "operator": other.id, "date": today}
    assert post(signed_in(admin_app, "cashier"), "/admin/cash-close", data).status_code == 403
    assert post(signed_in(admin_app, "manager"), "/admin/cash-close", data).status_code == 302
    assert CashClose.get().operator_id == other.id


# ---------------------------------------------------------------------------- orders
def wechat_order(community, bill, status=OrderStatus.PAYING, no="WX1", minutes_left=10):
    now = utcnow()
    order = PaymentOrder.create(out_trade_no=no, community=community, total_fen=bill.amount_fen,
                                status=status, created_at=now - dt.timedelta(minutes=30),
                                expires_at=now + dt.timedelta(minutes=minutes_left))
    OrderBill.create(order=order, bill=bill, amount_fen=bill.amount_fen,
                     open_bill=bill if status in OrderStatus.OPEN else None)
    return order


class StubClient:
    """Answers like WeChat would for an order nobody paid."""
    mchid, appid = "1900000109", "wxappid"

    def __init__(self, trade_state="NOTPAY"):
        self.trade_state = trade_state
        self.calls = []

    def query_by_out_trade_no(self, no):
        self.calls.append(("query", no))
        return {"out_trade_no": no, "trade_state": self.trade_state}

    def close(self, no):
        self.calls.append(("close", no))
        self.trade_state = "CLOSED"


def test_orders_filter_by_status_search_and_export(admin_app, world):
    wechat_order(world.a, world.bills_a[0], no="WXPAYING1")
    wechat_order(world.a, world.bills_a[1], status=OrderStatus.CLOSED, no="WXCLOSED2")
    c = signed_in(admin_app, "manager")
    page = c.get("/admin/orders?status=paying").get_data(as_text=True)
    assert "WXPAYING1" in page and "WXCLOSED2" not in page and "1栋-101 2026-01 物业费" in page
    assert "WXPAYING1" not in c.get("/admin/orders?q=CLOSED").get_data(as_text=True)
    export = c.get("/admin/orders?export=csv").get_data().decode("utf-8-sig")
    assert "WXCLOSED2" in export and "已关闭" in export and "250.00" in export


def test_order_detail_shows_callbacks_and_asking_wechat_records_who_asked(admin_app, world, monkeypatch):
    order = wechat_order(world.a, world.bills_a[0])
    NotifyEvent.create(notification_id="N-1", event_type="TRANSACTION.SUCCESS", out_trade_no="WX1",
                       verified=True, status="rejected", result="amount mismatch")
    stub = StubClient("NOTPAY")
    monkeypatch.setattr("server.admin.pages.payments_orders.wechat_client", lambda: stub)
    c = signed_in(admin_app, "cashier")
    page = c.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "N-1" in page and "amount mismatch" in page and "关闭订单" not in page
    response = post(c, f"/admin/orders/{order.id}/sync")
    assert "订单状态为「支付中」" in flashes(c.get(response.headers["Location"]))
    assert stub.calls == [("query", "WX1")]
    row = AuditLog.get(AuditLog.action == "order.query")
    assert (row.actor_id, row.before, row.after) == ("cashier", {"status": "paying"}, {"status": "paying"})
    assert PaymentOrder.get_by_id(order.id).last_queried_at is not None


def test_an_expired_order_can_be_closed_but_not_one_still_payable(admin_app, world, monkeypatch):
    live = wechat_order(world.a, world.bills_a[0], no="WXLIVE")
    expired = wechat_order(world.a, world.bills_a[1], no="WXOLD", minutes_left=-1)
    monkeypatch.setattr("server.admin.pages.payments_orders.wechat_client", lambda: StubClient())
    c = signed_in(admin_app, "cashier")
    response = post(c, f"/admin/orders/{live.id}/close")
    assert "订单尚未过期" in flashes(c.get(response.headers["Location"]))
    assert "关闭订单" in c.get(f"/admin/orders/{expired.id}").get_data(as_text=True)
    response = post(c, f"/admin/orders/{expired.id}/close")
    assert "订单已关闭" in flashes(c.get(response.headers["Location"]))
    assert PaymentOrder.get_by_id(expired.id).status == OrderStatus.CLOSED
    assert PaymentOrder.get_by_id(live.id).status == OrderStatus.PAYING
    row = AuditLog.get(AuditLog.action == "order.close_requested")
    assert row.after == {"status": "closed"} and row.actor_id == "cashier"


# --------------------------------------------------------------------------- refunds
def test_a_refund_is_requested_per_bill_and_approved_by_a_manager(admin_app, world):
    payment = book(world)
    c = signed_in(admin_app, "cashier")
    page = c.get(f"/admin/payments/{payment.id}").get_data(as_text=True)
    assert "申请退款" in page and f"/admin/receipts/{payment.receipt_no}" in page
    response = post(c, f"/admin/payments/{payment.id}/refunds",
                    {"bill": world.bills_a[1].id, "amount": "50.00", "reason": "多收", "request_key": "rk1"})
    assert "退款申请已提交（50.00 元）" in flashes(c.get(response.headers["Location"]))
    refund = Refund.get()
    assert refund.status == RefundStatus.PENDING_APPROVAL
    assert AuditLog.get(AuditLog.action == "refund.request").after["amount_fen"] == 5_000
    m = signed_in(admin_app, "manager")
    assert "批准退款" in m.get("/admin/refunds?status=pending_approval").get_data(as_text=True)
    response = post(m, f"/admin/refunds/{refund.id}/approve", token_from="/admin/refunds")
    assert "退款成功" in flashes(m.get(response.headers["Location"]))
    bill = Bill.get_by_id(world.bills_a[1].id)
    assert (bill.paid_fen, bill.status) == (10_000, BillStatus.PARTIALLY_PAID)
    assert ",50.00,多收,退款成功," in m.get("/admin/refunds?export=csv").get_data().decode("utf-8-sig")


def test_a_refund_above_what_the_bill_received_is_refused(admin_app, world):
    payment = book(world)
    c = signed_in(admin_app, "cashier")
    response = post(c, f"/admin/payments/{payment.id}/refunds",
                    {"bill": world.bills_a[1].id, "amount": "150.01", "reason": "多收", "request_key": "k"})
    assert "退款金额 150.01 元超过可退金额 150.00 元" in flashes(c.get(response.headers["Location"]))
    assert Refund.select().count() == 0


def test_the_requester_cannot_approve_their_own_refund(admin_app, world):
    payment = book(world)
    m = signed_in(admin_app, "manager")
    post(m, f"/admin/payments/{payment.id}/refunds",
         {"bill": world.bills_a[0].id, "amount": "10.00", "reason": "多收", "request_key": "k"})
    refund = Refund.get()
    response = post(m, f"/admin/refunds/{refund.id}/approve")
    assert "退款需由另一名工作人员审批" in flashes(m.get(response.headers["Location"]))
    assert Refund.get_by_id(refund.id).status == RefundStatus.PENDING_APPROVAL


# ------------------------------------------------------------- scope, roles, CSRF
def test_a_cashier_of_a_gets_404_on_every_record_of_b(admin_app, world):
    from server.staff.models import StaffUser

    manager_b = Actor.staff(StaffUser.get(StaffUser.username == "manager"))
    order_b = offline.record_offline_payment(world.b.id, [(world.bill_b.id, 20_000)], "cash", "B-1", "",
                                             manager_b, approval_threshold_fen=10**9)
    payment_b = Payment.get(Payment.order == order_b.id)
    refund_b = Refund.create(payment=payment_b, bill=world.bill_b, out_refund_no="RB1", amount_fen=100,
                             reason="x")
    wx_b = wechat_order(world.b, f.bill(world.house_b, world.bill_b.fee_item, period="2026-02"), no="WXB")
    c = signed_in(admin_app, "cashier")
    for path in (f"/admin/offline-payments?house={world.house_b.id}",
                 f"/admin/receipts/{payment_b.receipt_no}",
                 f"/admin/payments/{payment_b.id}", f"/admin/orders/{wx_b.id}",
                 f"/admin/orders?community={world.b.id}", f"/admin/cash-close?community={world.b.id}"):
        assert c.get(path).status_code == 404, path
    assert "RB1" not in c.get("/admin/refunds").get_data(as_text=True)
    for path, data in ((("/admin/offline-payments"), {"house": world.house_b.id, "bill": world.bill_b.id}),
                       (f"/admin/payments/{payment_b.id}/refunds", {"bill": world.bill_b.id}),
                       (f"/admin/refunds/{refund_b.id}/sync", {}), (f"/admin/orders/{wx_b.id}/sync", {}),
                       (f"/admin/orders/{wx_b.id}/close", {}),
                       ("/admin/cash-close", {"community": world.b.id, "date": "2026-01-01"})):
        assert post(c, path, data).status_code == 404, path
    manager_a_only = make_staff("manager_a", StaffRole.MANAGER, [world.a])
    m = signed_in(admin_app, manager_a_only.username)
    assert post(m, f"/admin/refunds/{refund_b.id}/approve").status_code == 404
    assert post(m, f"/admin/offline-payments/{order_b.id}/reject").status_code == 404


def test_a_viewer_gets_403_on_every_post(admin_app, world):
    payment = book(world)
    refund = Refund.create(payment=payment, bill=world.bills_a[0], out_refund_no="R1", amount_fen=100,
                           reason="x")
    order = wechat_order(world.a, f.bill(world.house_a, world.bills_a[0].fee_item, period="2026-03"))
    v = signed_in(admin_app, "viewer")
    page = v.get(f"/admin/payments/{payment.id}").get_data(as_text=True)
    assert "申请退款</button>" not in page and "批准退款" not in page
    for path in ("/admin/offline-payments", f"/admin/offline-payments/{payment.order_id}/approve",
                 f"/admin/offline-payments/{payment.order_id}/reject", "/admin/cash-close",
                 f"/admin/orders/{order.id}/sync", f"/admin/orders/{order.id}/close",
                 f"/admin/payments/{payment.id}/refunds", f"/admin/refunds/{refund.id}/approve",
                 f"/admin/refunds/{refund.id}/reject", f"/admin/refunds/{refund.id}/sync"):
        assert post(v, path, {"house": world.house_a.id}).status_code == 403, path
    assert Refund.get_by_id(refund.id).status == RefundStatus.PENDING_APPROVAL


def test_a_payment_form_without_csrf_token_is_refused(admin_app, world):
    c = signed_in(admin_app, "cashier")
    response = c.post("/admin/offline-payments", data={
        "house": world.house_a.id, "bill": world.bills_a[0].id, f"amount_{world.bills_a[0].id}": "250.00",
        "channel": "cash"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert PaymentOrder.select().count() == 0
