"""System pages (audit log, tasks, API tokens, staff accounts) and the role/scope matrix
over every /admin route.  The lockout after the 10th wrong password is in test_auth.py."""
from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pytest

from server import audit
from server.audit import Actor, AuditLog
from server.staff.models import StaffApiToken, StaffCommunity, StaffRole, StaffUser
from server.tasks.models import AdminTask, TaskStatus
from server.timeutil import utcnow
from tests import factories as f
from tests.admin.conftest import csrf_token, login, make_staff


def _page(client, path, **kw):
    response = client.get(path, **kw)
    return response, response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """Argon2 with the lowest cost: these tests hash and verify many passwords."""
    from argon2 import PasswordHasher

    from server.admin import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture
def world(admin_app):
    return build_two_communities()


# --- two communities, each with one record of every kind ---------------------------------

# Strings only community B's records carry: no page shown to A's staff may contain them.
B_MARKERS = ("乙区标记苑", "B9901", "ZZB标记费", "B业主标记", "WYPMARKB0001", "B-MARK-0001", "B异议标记",
             "B调整标记", "B告警标记", "B任务标记", "RMARKB0001", "13900009901")


def _side(name: str, code: str, tag: str) -> SimpleNamespace:
    from payments.models import PaymentOrder
    from server.alerts import Alert
    from server.billing.models import Adjustment, AdjustmentKind, BillingRun, Method
    from server.disputes.models import Dispute, DisputeReason
    from server.ledger.models import Allocation, Payment, Refund
    from server.owners.models import BindingCode
    from server.property.models import Binding, BindingStatus, Owner
    from server.staff import tokens

    comm = f.community(name, code)
    s = SimpleNamespace(community=comm)
    s.cashier = make_staff(f"cashier-{tag.lower()}", StaffRole.CASHIER, [comm])
    s.token = tokens.issue_token(s.cashier.id, "矩阵", Actor.system("test"))[0]
    s.building = f.building(comm, f"{tag}标记栋")
    s.house = f.house(comm, s.building, room_no=f"{tag}9901")
    s.fee_item = f.fee_item(comm, f"ZZ{tag}", f"ZZ{tag}标记费")
    s.standard = f.standard(s.fee_item, Method.FIXED, "123.45")
    s.meter = f.meter(s.house, s.fee_item)
    s.reading = f.reading(s.house, s.fee_item, "2026-01", "0", "9")
    s.billing_run = BillingRun.create(community=comm, period="2026-01", houses=1, total_fen=12345)
    s.bill = f.bill(s.house, s.fee_item, amount_fen=12345, billing_run=s.billing_run)
    phone = "1390000" + ("9901" if tag == "B" else "1101")
    s.owner = Owner.create(openid=f"o-mark-{tag}", phone=phone, nickname=f"{tag}业主标记")
    s.binding = Binding.create(owner=s.owner, house=s.house, verified_by="staff",
                               status=BindingStatus.PENDING)
    s.code = BindingCode.create(house=s.house, role="owner", code_hash=f"{tag}-hash".ljust(64, "0"),
                                expires_at=utcnow() + dt.timedelta(days=3))
    s.order = PaymentOrder.create(out_trade_no=f"WYPMARK{tag}0001", community=comm, house=s.house,
                                  owner=s.owner, channel="cash", total_fen=12345, payer_name=f"{tag}业主标记")
    s.payment = Payment.create(community=comm, channel="cash", amount_fen=12345,
                               receipt_no=f"{tag}-MARK-0001", payer_name=f"{tag}业主标记")
    Allocation.create(payment=s.payment, bill=s.bill, amount_fen=12345)
    s.refund = Refund.create(payment=s.payment, bill=s.bill, out_refund_no=f"RMARK{tag}0001", amount_fen=100,
                             reason=f"{tag}退款")
    s.dispute = Dispute.create(bill=s.bill, owner=s.owner, reason=DisputeReason.AMOUNT, text=f"{tag}异议标记")
    s.adjustment = Adjustment.create(bill=s.bill, kind=AdjustmentKind.DISCOUNT, amount_fen=-100,
                                     reason=f"{tag}调整标记")
    s.alert = Alert.create(kind="test", message=f"{tag}告警标记", community_id=comm.id)
    s.task = AdminTask.create(kind="export_houses", label=f"{tag}任务标记", community_id=comm.id,
                              created_by=f"{tag}任务标记", status=TaskStatus.DONE, result={"n": 1})
    return s


def build_two_communities() -> SimpleNamespace:
    """Communities A and B; WeChat's reconciliation run (of no community) has an item for each."""
    from server.reconciliation.models import ReconciliationItem, ReconciliationRun

    world = SimpleNamespace(a=_side("甲区阳光苑", "ZA", "A"), b=_side("乙区标记苑", "ZB", "B"))
    world.recon_run = ReconciliationRun.create(bill_date=dt.date(2026, 1, 5), status="done", differences=2)
    for side in (world.a, world.b):
        side.recon_item = ReconciliationItem.create(
            run=world.recon_run, kind="missing_local", reference=f"T{side.order.out_trade_no}",
            out_trade_no=side.order.out_trade_no, remote_fen=12345)
    return world


# --- audit log ---------------------------------------------------------------------------

def test_the_audit_log_shows_before_and_after_with_the_changed_keys_marked(client, world):
    bill = world.a.bill
    audit.record(Actor("staff", "cashier-a"), "bill.adjust", "bill", bill.id,
                 community_id=world.a.community.id, before={"adjusted_fen": 0, "status": "unpaid"},
                 after={"adjusted_fen": -500, "status": "unpaid"})
    make_staff("mgr", StaffRole.MANAGER, [world.a.community])
    login(client, "mgr")
    response, page = _page(client, "/admin/audit")
    assert response.status_code == 200
    assert 'data-changed="adjusted_fen"' in page
    assert 'data-changed="status"' not in page  # shown, but not marked as changed
    assert f'href="/admin/bills/{bill.id}"' in page
    assert "-5.00 元" in page and "cashier-a" in page


def test_a_cashier_sees_only_audit_rows_of_their_communities_and_an_admin_sees_all(client, world):
    audit.record(Actor.system(), "x.a", "bill", 1, community_id=world.a.community.id, note="甲区行")
    audit.record(Actor.system(), "x.b", "bill", 2, community_id=world.b.community.id, note="乙区行")
    audit.record(Actor.system(), "x.global", "staff_user", 3, note="无小区行")
    make_staff("cashier", StaffRole.CASHIER, [world.a.community])
    make_staff("boss", StaffRole.ADMIN)
    login(client, "cashier")
    _, page = _page(client, "/admin/audit")
    assert "甲区行" in page and "乙区行" not in page and "无小区行" not in page
    assert client.get(f"/admin/audit?community={world.b.community.id}").status_code == 404
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/audit")})
    login(client, "boss")
    _, page = _page(client, "/admin/audit")
    assert all(note in page for note in ("甲区行", "乙区行", "无小区行"))


def test_the_audit_log_filters_by_actor_action_prefix_entity_and_date(client, world):
    comm = world.a.community.id
    old = audit.record(Actor("staff", "alice"), "refund.approve", "refund", 7, community_id=comm, note="old")
    AuditLog.update(at=utcnow() - dt.timedelta(days=40)).where(AuditLog.id == old.id).execute()
    audit.record(Actor("staff", "alice"), "refund.request", "refund", 7, community_id=comm, note="r7")
    audit.record(Actor("staff", "bob"), "refund.request", "refund", 8, community_id=comm, note="r8")
    audit.record(Actor("staff", "alice"), "bill.allocate", "bill", 7, community_id=comm, note="b7")
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    since = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    query = f"actor=alice&action=refund.&entity=refund&entity_id=7&date_from={since}"
    _, page = _page(client, f"/admin/audit?{query}")
    assert "r7" in page
    assert not any(f">{n}<" in page for n in ("old", "r8", "b7"))


def test_the_audit_log_exports_csv_and_xlsx_within_scope(client, world):
    from openpyxl import load_workbook

    audit.record(Actor.system(), "x.a", "bill", 1, community_id=world.a.community.id, after={"paid_fen": 100},
                 note="甲区导出")
    audit.record(Actor.system(), "x.b", "bill", 2, community_id=world.b.community.id, note="乙区导出")
    make_staff("viewer", StaffRole.VIEWER, [world.a.community])
    login(client, "viewer")
    csv_text = client.get("/admin/audit?export=csv").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("时间,操作人类型,操作人,操作")
    assert "甲区导出" in csv_text and '""paid_fen"": 100' in csv_text and "乙区导出" not in csv_text
    book = load_workbook(io.BytesIO(client.get("/admin/audit?export=xlsx").data))
    cells = [c for row in book.active.iter_rows(values_only=True) for c in row]
    assert "甲区导出" in cells and "乙区导出" not in cells


# --- tasks -------------------------------------------------------------------------------

def _task(community, status=TaskStatus.RUNNING, **values):
    return AdminTask.create(kind=values.pop("kind", "export_houses"), status=status,
                            community_id=community.id if community else None, created_by="someone", **values)


def test_the_tasks_list_shows_kind_progress_and_only_the_cashiers_communities(client, world):
    _task(world.a.community, total=200, done=50, label="甲区任务")
    _task(world.b.community, label="乙区任务", kind="billing_issue")
    me = make_staff("cashier", StaffRole.CASHIER, [world.a.community])
    _task(None, label="我的任务", staff_id=me.id, kind="import", status=TaskStatus.DONE,
          result={"created": 12, "skipped": 1})
    _task(None, label="别人的任务", kind="reconcile")
    login(client, "cashier")
    _, page = _page(client, "/admin/tasks")
    assert "导出房屋" in page and 'style="width: 25%"' in page
    assert "导入" in page and "新建 12，跳过 1" in page
    assert "甲区任务" in page and "乙区任务" not in page and "别人的任务" not in page
    csv_text = client.get("/admin/tasks?export=csv").get_data().decode("utf-8-sig")
    assert "导出房屋" in csv_text and "乙区任务" not in csv_text


def test_a_running_task_page_refreshes_itself_and_a_finished_one_shows_its_counts(client, world):
    running = _task(world.a.community, total=10, done=3)
    done = _task(world.a.community, status=TaskStatus.DONE, result={"bills_created": 42})
    make_staff("mgr", StaffRole.MANAGER, [world.a.community])
    login(client, "mgr")
    _, page = _page(client, f"/admin/tasks/{running.id}")
    assert '<meta http-equiv="refresh"' in page and "3/10" in page
    _, page = _page(client, f"/admin/tasks/{done.id}")
    assert "refresh" not in page and "bills_created" in page and "42" in page
    assert "下载生成的文件" not in page


def test_a_task_file_is_downloadable_only_from_the_exports_folder(client, admin_app, world, tmp_path):
    exports = tmp_path / "instance" / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "bills.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "instance" / "secret_key").write_text("s3cr3t", encoding="utf-8")
    good = _task(world.a.community, status=TaskStatus.DONE, result={"file": "bills.csv", "rows": 1})
    escape = _task(world.a.community, status=TaskStatus.DONE, result={"file": "../secret_key"})
    absolute = _task(world.a.community, status=TaskStatus.DONE,
                     result={"file": str(tmp_path / "instance" / "secret_key")})
    make_staff("mgr", StaffRole.MANAGER, [world.a.community])
    login(client, "mgr")
    assert admin_app.instance_path == str(tmp_path / "instance")
    assert "下载生成的文件" in _page(client, f"/admin/tasks/{good.id}")[1]
    with client.get(f"/admin/tasks/{good.id}/download") as response:
        assert response.status_code == 200 and response.data == b"a,b\n1,2\n"
        assert "attachment" in response.headers["Content-Disposition"]
    for task in (escape, absolute):
        assert client.get(f"/admin/tasks/{task.id}/download").status_code == 404


def test_a_cashier_of_a_gets_404_on_a_task_of_b_and_its_download(client, world, tmp_path):
    (tmp_path / "instance" / "exports").mkdir(parents=True, exist_ok=True)
    (tmp_path / "instance" / "exports" / "b.csv").write_text("b", encoding="utf-8")
    task_b = _task(world.b.community, status=TaskStatus.DONE, result={"file": "b.csv"})
    make_staff("cashier", StaffRole.CASHIER, [world.a.community])
    login(client, "cashier")
    assert client.get(f"/admin/tasks/{task_b.id}").status_code == 404
    assert client.get(f"/admin/tasks/{task_b.id}/download").status_code == 404


# --- API tokens --------------------------------------------------------------------------

def test_an_admin_creates_a_token_whose_plaintext_is_shown_once_and_only_hashed(client, world):
    import hashlib

    erp = make_staff("erp", StaffRole.MANAGER, [world.a.community])
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    response = client.post("/admin/api-tokens", data={"staff_id": erp.id, "name": "ERP 对接", "ttl_days": "30",
                                                      "csrf_token": csrf_token(client, "/admin/api-tokens")})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    plaintext = page.split('id="token-plaintext">')[1].split("<")[0]
    assert plaintext.startswith("wyp_") and "只显示这一次" in page
    row = StaffApiToken.get(StaffApiToken.staff == erp.id)
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest() and row.staff_id == erp.id
    assert (row.expires_at - row.created_at).days == 30
    assert plaintext not in _page(client, "/admin/api-tokens")[1]
    entry = AuditLog.get(AuditLog.action == "staff_token.issue", AuditLog.entity_id == str(row.id))
    assert entry.actor_id == "boss" and entry.after["name"] == "ERP 对接" and plaintext not in str(entry.after)


def test_a_token_without_a_name_is_refused_with_a_message_and_nothing_is_created(client, world):
    erp = make_staff("erp", StaffRole.MANAGER, [world.a.community])
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    count = StaffApiToken.select().count()
    response = client.post("/admin/api-tokens", data={"staff_id": erp.id, "name": " ",
                                                      "csrf_token": csrf_token(client, "/admin/api-tokens")},
                           follow_redirects=True)
    assert "请填写令牌名称" in response.get_data(as_text=True)
    assert StaffApiToken.select().count() == count


def test_revoking_a_token_is_audited_with_before_and_after(client, world):
    from server.staff import tokens

    erp = make_staff("erp", StaffRole.MANAGER, [world.a.community])
    boss = make_staff("boss", StaffRole.ADMIN)
    row, _ = tokens.issue_token(erp.id, "脚本", Actor.staff(boss))
    login(client, "boss")
    response = client.post(f"/admin/api-tokens/{row.id}/revoke",
                           data={"csrf_token": csrf_token(client, "/admin/api-tokens")},
                           follow_redirects=True)
    assert "令牌已吊销" in response.get_data(as_text=True)
    assert StaffApiToken.get_by_id(row.id).revoked_at is not None
    entry = AuditLog.get(AuditLog.action == "staff_token.revoke")
    assert entry.before["revoked_at"] is None and entry.after["revoked_at"]


def test_the_token_and_staff_pages_are_for_admins_only(client, world):
    make_staff("mgr", StaffRole.MANAGER, [world.a.community])
    login(client, "mgr")
    token = csrf_token(client, "/admin/audit")
    for path in ("/admin/api-tokens", "/admin/staff", f"/admin/staff/{world.a.cashier.id}"):
        assert client.get(path).status_code == 403
    assert client.post("/admin/api-tokens", data={"csrf_token": token, "staff_id": "1",
                                                  "name": "x"}).status_code == 403
    assert client.post("/admin/staff", data={"csrf_token": token, "username": "evil", "role": "admin",
                                             "password": "12345678"}).status_code == 403
    assert StaffUser.get_or_none(StaffUser.username == "evil") is None


# --- staff accounts ----------------------------------------------------------------------

def test_an_admin_creates_a_staff_member_with_communities_audited_without_the_password(client, world):
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    response = client.post("/admin/staff", data={
        "username": "li.cashier", "display_name": "李收银", "role": "cashier", "password": "secret-pass-1",
        "communities": [str(world.a.community.id)], "csrf_token": csrf_token(client, "/admin/staff")},
        follow_redirects=True)
    assert "已创建员工 li.cashier" in response.get_data(as_text=True)
    user = StaffUser.get(StaffUser.username == "li.cashier")
    assert user.role == "cashier" and user.password_hash.startswith("$argon2")
    assert [link.community_id for link in user.community_links] == [world.a.community.id]
    entry = AuditLog.get(AuditLog.action == "staff.create", AuditLog.entity_id == str(user.id))
    assert entry.after["communities"] == [world.a.community.code] and "secret-pass-1" not in str(entry.after)
    assert entry.actor_id == "boss"


@pytest.mark.parametrize("form, message", [
    ({"username": "cashier-a", "role": "cashier", "password": "long-enough"}, "用户名 cashier-a 已存在"),
    ({"username": "new1", "role": "cashier", "password": "short"}, "初始密码至少 8 位"),
    ({"username": "new2", "role": "manager", "password": "long-enough", "communities": []}, "至少要选择一个小区"),
])
def test_creating_a_staff_member_is_refused_with_the_reason(client, world, form, message):
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    count = StaffUser.select().count()
    form = {"communities": [str(world.a.community.id)], **form,
            "csrf_token": csrf_token(client, "/admin/staff")}
    response = client.post("/admin/staff", data=form, follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert StaffUser.select().count() == count


def test_changing_role_and_communities_is_audited_with_before_and_after(client, world):
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    cashier = world.a.cashier
    response = client.post(f"/admin/staff/{cashier.id}/access", data={
        "role": "manager", "communities": [str(world.a.community.id), str(world.b.community.id)],
        "csrf_token": csrf_token(client, "/admin/staff")}, follow_redirects=True)
    assert "已更新角色与小区" in response.get_data(as_text=True)
    assert StaffUser.get_by_id(cashier.id).role == "manager"
    entry = AuditLog.get(AuditLog.action == "staff.update")
    assert (entry.before["role"], entry.after["role"]) == ("cashier", "manager")
    assert entry.before["communities"] == [world.a.community.code]
    assert entry.after["communities"] == sorted([world.a.community.code, world.b.community.code])


def test_unlocking_and_deactivating_a_staff_member(admin_app, client, world):
    boss = make_staff("boss", StaffRole.ADMIN)
    victim = make_staff("locked", StaffRole.CASHIER, [world.a.community])
    StaffUser.update(failed_logins=10, locked_until=utcnow() + dt.timedelta(minutes=15)).where(
        StaffUser.id == victim.id).execute()
    login(client, "boss")
    token = csrf_token(client, f"/admin/staff/{victim.id}")
    assert "已锁定至" in _page(client, "/admin/staff")[1]
    client.post(f"/admin/staff/{victim.id}/unlock", data={"csrf_token": token})
    assert StaffUser.get_by_id(victim.id).locked_until is None
    assert AuditLog.get(AuditLog.action == "staff.unlock").before["locked_until"]
    victim_client = admin_app.test_client()
    login(victim_client, "locked")
    assert victim_client.get("/admin/tasks").status_code == 200
    client.post(f"/admin/staff/{victim.id}/deactivate", data={"csrf_token": token})
    assert StaffUser.get_by_id(victim.id).active is False
    assert victim_client.get("/admin/tasks").status_code == 302  # signed out at once
    response = client.post(f"/admin/staff/{boss.id}/deactivate", data={"csrf_token": token},
                           follow_redirects=True)
    assert "不能停用自己的账号" in response.get_data(as_text=True)
    assert StaffUser.get_by_id(boss.id).active is True


def test_the_only_admin_cannot_be_demoted(client, world):
    boss = make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    response = client.post(f"/admin/staff/{boss.id}/access", data={
        "role": "manager", "communities": [str(world.a.community.id)],
        "csrf_token": csrf_token(client, "/admin/staff")}, follow_redirects=True)
    assert "唯一的在用管理员" in response.get_data(as_text=True)
    assert StaffUser.get_by_id(boss.id).role == "admin"
    assert not StaffCommunity.select().where(StaffCommunity.staff == boss.id).exists()


def test_a_system_form_without_a_csrf_token_is_refused(client, world):
    make_staff("boss", StaffRole.ADMIN)
    login(client, "boss")
    response = client.post("/admin/staff",
                           data={"username": "nocsrf", "role": "admin", "password": "long-enough"})
    assert response.status_code == 400
    assert StaffUser.get_or_none(StaffUser.username == "nocsrf") is None


# --- the matrix: every /admin route, discovered from the URL map --------------------------

# Routes whose parameters no record can fill, each with the reason (nothing is skipped silently).
UNFILLABLE = {
    "/admin/static/<path:filename>": "the stylesheet: no community's data",
    "/admin/imports/template/<kind>.<any(csv, xlsx):fmt>": "a blank import template named by kind: no data",
}
# POST routes open to every role, with the reason.
OPEN_POSTS = {
    "/admin/login": "signing in is for anyone",
    "/admin/logout": "signing out is for anyone signed in",
}
# Parameter → the record of one side that fills it (all of them belong to that side's community).
RECORD_PARAMS = {
    "bill_id": "bill", "house_id": "house", "payment_id": "payment", "order_id": "order",
    "refund_id": "refund", "dispute_id": "dispute", "task_id": "task", "alert_id": "alert",
    "code_id": "code", "binding_id": "binding", "building_id": "building", "owner_id": "owner",
    "standard_id": "standard", "adjustment_id": "adjustment", "adj_id": "adjustment", "reading_id": "reading",
    "meter_id": "meter", "fee_item_id": "fee_item", "community_id": "community", "staff_id": "cashier",
    "token_id": "token",
}


def _fill(rule, side, world):
    """``(values, scoped)`` for ``rule`` with ``side``'s records, or a string saying why not.
    WeChat's reconciliation runs and items belong to no community: not "scoped", so their
    pages may answer, but without B's data."""
    from werkzeug.routing.converters import AnyConverter

    values, scoped = {}, False
    recon = "/reconciliation" in rule.rule
    for name in sorted(rule.arguments):
        if isinstance(rule._converters[name], AnyConverter):
            values[name] = sorted(rule._converters[name].items)[0]
        elif name in RECORD_PARAMS:
            values[name], scoped = getattr(side, RECORD_PARAMS[name]).id, True
        elif name == "run_id":
            values[name] = world.recon_run.id if recon else side.billing_run.id
            scoped = scoped or not recon
        elif name == "item_id" and recon:
            values[name] = side.recon_item.id
        elif name == "item_id" and "/fee-items" in rule.rule:
            values[name], scoped = side.fee_item.id, True
        elif name == "number" and "/receipts" in rule.rule:
            values[name], scoped = side.payment.receipt_no, True
        else:
            return f"{rule.rule}: no record fills <{name}> (add it to RECORD_PARAMS or UNFILLABLE)"
    return values, scoped


def _routes(app, method: str, side, world):
    """``(path, scoped)`` of every /admin route for ``method``; fails on one it cannot fill."""
    rules = sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and method in r.methods
                    and r.rule not in UNFILLABLE and not (method == "POST" and r.rule in OPEN_POSTS)),
                   key=lambda r: r.rule)
    filled = [(rule, _fill(rule, side, world)) for rule in rules]
    unfillable = [f for _, f in filled if isinstance(f, str)]
    assert not unfillable, "\n".join(unfillable)
    return [(rule.build(values, append_unknown=False)[1], scoped, bool(rule.arguments))
            for rule, (values, scoped) in filled]


def _leaks(body: str) -> list[str]:
    return [marker for marker in B_MARKERS if marker in body]


def test_no_admin_page_shows_community_b_to_a_cashier_of_a(admin_app, client, world):
    login(client, "cashier-b")  # the control: B's own cashier does see the markers
    assert _leaks(client.get("/admin/tasks").get_data(as_text=True))
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/tasks")})
    login(client, "cashier-a")
    problems, checked = [], 0
    for path, scoped, has_args in _routes(admin_app, "GET", world.b, world):
        tries = [path] if has_args else [
            path, f"{path}?community={world.b.community.id}", f"{path}?export=csv"]
        for url in tries:
            response = client.get(url)
            checked += 1
            body = response.get_data().decode("utf-8", "replace")
            if response.status_code >= 500:
                problems.append(f"GET {url}: {response.status_code}")
            elif scoped and response.status_code not in (403, 404):
                problems.append(f"GET {url}: {response.status_code} for a record of B (want 404)")
            elif _leaks(body):
                problems.append(f"GET {url}: shows {_leaks(body)}")
    assert not problems, "\n".join(problems)
    assert checked >= 12  # the system pages alone give 12 URLs


def test_a_viewer_gets_403_on_every_admin_post_route(admin_app, client, world):
    make_staff("viewer", StaffRole.VIEWER, [world.a.community])
    login(client, "viewer")
    token = csrf_token(client, "/admin/tasks")
    routes = _routes(admin_app, "POST", world.a, world)
    answers = {path: client.post(path, data={"csrf_token": token}).status_code for path, _, _ in routes}
    assert {path: status for path, status in answers.items() if status != 403} == {}
    assert len(answers) >= 7  # at least the system pages' own forms
    assert not AuditLog.select().where(AuditLog.actor_id == "viewer",
                                       AuditLog.action != "staff.login").exists()


def test_a_cashier_of_a_changes_nothing_of_community_b_through_any_post_route(admin_app, client, world):
    from server.billing.models import Adjustment, Bill
    from server.ledger.models import Refund

    login(client, "cashier-a")
    token = csrf_token(client, "/admin/tasks")
    b = world.b

    def state():
        return (AuditLog.select().where(AuditLog.community_id == b.community.id).count(),
                [(x.status, x.paid_fen, x.adjusted_fen)
                 for x in Bill.select().where(Bill.community == b.community)],
                Refund.get_by_id(b.refund.id).status, Adjustment.get_by_id(b.adjustment.id).status,
                StaffUser.get_by_id(b.cashier.id).role, StaffApiToken.get_by_id(b.token.id).revoked_at)

    before, problems = state(), []
    for path, scoped, _ in _routes(admin_app, "POST", b, world):
        status = client.post(path, data={"csrf_token": token}).status_code
        if status >= 500 or (scoped and status not in (403, 404)):
            problems.append(f"POST {path}: {status}")
    assert not problems, "\n".join(problems)
    assert state() == before
