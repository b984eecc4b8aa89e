"""Security review of the staff side: headers, cookies, secrets, redirects, uploads,
injection in pages, charts and exports, scope checks on ids sent in form fields."""
from __future__ import annotations

import csv
import io
import pathlib
import re

import pytest
from openpyxl import load_workbook

from server import admin
from server.admin import auth, charts, exporting
from server.admin.auth import hash_password
from server.billing.models import Bill, BillStatus
from server.config import Config, ConfigError
from server.ledger.models import Payment, PaymentOrder
from server.property.models import House
from server.staff.models import StaffCommunity, StaffUser
from server.tasks.models import AdminTask, TaskStatus
from tests import factories as f
from tests.admin.conftest import PASSWORD, csrf_token, login

_HASH = hash_password(PASSWORD)
TEMPLATES = pathlib.Path(admin.__file__).parent / "templates"


def make_staff(username, role="admin", communities=()):
    user = StaffUser.create(username=username, role=role, password_hash=_HASH)
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


@pytest.fixture
def two(admin_app):
    a, b = f.community("阳光小区", "A"), f.community("翠湖苑", "B")
    ha = f.house(a, f.building(a, "1栋"), room_no="101")
    hb = f.house(b, f.building(b, "9栋"), room_no="901")
    make_staff("boss")
    make_staff("cashier", "cashier", [a])
    return type("Two", (), {"a": a, "b": b, "ha": ha, "hb": hb})


def signed_in(client, username):
    assert login(client, username).status_code == 302
    return client


# ---------------------------------------------------------------- headers
def test_staff_pages_forbid_inline_script_framing_sniffing_and_caching(client, two):
    for response in (client.get("/admin/login"), signed_in(client, "boss").get("/admin/"),
                     client.get("/admin/no-such-page")):
        h = response.headers
        csp = h["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("style-src")[0]  # only styles may be inline
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin" and h["Cache-Control"] == "no-store"
    static = client.get("/admin/static/admin.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_the_owner_api_gets_nosniff_but_not_the_staff_page_policy(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers
    assert "X-Frame-Options" not in response.headers


def test_templates_have_no_inline_script_the_policy_would_block():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=\s*[\"']", r"javascript:"):
            offenders += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, source, re.I)]
    assert offenders == []


# ---------------------------------------------------------------- cookie, secret key
@pytest.mark.parametrize("base, secure", [("https://wuye.example.com", True),
                                          ("http://127.0.0.1:5000", False)])
def test_the_session_cookie_is_secure_when_served_over_https(database, make_app, base, secure):
    from server import db as dbmod

    app = make_app(database.test_url, PUBLIC_BASE_URL=base)
    dbmod.database.connect(reuse_if_open=True)
    make_staff("boss")
    client = app.test_client()
    response = login(client, "boss")
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))
    assert ("; Secure" in cookie) is secure
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_weak_secret_key_is_refused_outside_demo_mode_and_tests(tmp_path):
    production = {"TESTING": False, "DEMO_MODE": False}
    for weak in ("bench", "changeme", "x" * 31, "testing-secret-key"):
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            admin.check_secret_key({**production, "SECRET_KEY": weak})
    admin.check_secret_key({**production, "SECRET_KEY": "k" * 8 + "-random-enough-0123456789abcdef"})
    admin.check_secret_key({"TESTING": False, "DEMO_MODE": True, "SECRET_KEY": "dev"})  # make run
    generated = Config(INSTANCE_PATH=str(tmp_path), DEMO_MODE=False).finalize()
    admin.check_secret_key({**production, "SECRET_KEY": generated.SECRET_KEY})  # unset: generated


# ---------------------------------------------------------------- one-time binding code
def test_a_binding_code_never_travels_in_the_session_cookie(admin_app, client, two):
    signed_in(client, "cashier")
    response = client.post(f"/admin/houses/{two.ha.id}/binding-codes",
                           data={"role": "owner", "csrf_token": csrf_token(client, "/admin/")})
    code = re.search(r'id="binding-code">([A-Z0-9 ]+)<', response.get_data(as_text=True)).group(1)
    serializer = admin_app.session_interface.get_signing_serializer(admin_app)
    session = serializer.loads(client.get_cookie("session").value)
    assert "_user_id" in session  # the cookie was read
    assert code.replace(" ", "") not in repr(session) and response.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- redirects
@pytest.mark.parametrize("target", ["//evil.example/admin", "https://evil.example/admin",
                                    "/\\evil.example", "javascript:alert(1)", "http:/admin"])
def test_sign_in_never_redirects_off_site(client, two, target):
    response = client.post(f"/admin/login?next={target}", data={
        "username": "boss", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.location == "/admin/"


def test_a_form_next_field_cannot_send_an_approval_off_site(admin_app, client, two):
    from server.alerts import Alert

    alert = Alert.create(kind="test", message="A 的告警", community_id=two.a.id)
    make_staff("manager", "manager", [two.a])
    signed_in(client, "manager")
    response = client.post(f"/admin/alerts/{alert.id}/acknowledge", data={
        "next": "https://evil.example/admin/alerts", "csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and response.location.startswith("/admin/alerts")


BAD_NEXT = ["/admin/alerts\nSet-Cookie: x=1", "/admin/\r\nLocation: https://evil.example", "//evil.example",
            "https://evil.example/admin", "/admin\\evil", "/administrator", "/admin//evil.example"]


@pytest.mark.parametrize("target", BAD_NEXT + ["", None, "javascript:alert(1)", "/admin/\x00"])
def test_safe_next_keeps_only_paths_of_this_site(target):
    from server.admin.common import safe_next

    assert safe_next(target, "/admin/default") == "/admin/default"


@pytest.mark.parametrize("target", ["/admin", "/admin/", "/admin/alerts?page=2&community=1",
                                    "/admin/bills/3?tab=历史"])
def test_safe_next_returns_a_path_of_this_site_as_it_is(target):
    from server.admin.common import safe_next

    assert safe_next(target, "/admin/default") == target
    assert safe_next("/admin/bills/1", "/admin/x", prefix="/admin/alerts") == "/admin/x"


@pytest.mark.parametrize("target", BAD_NEXT)
def test_sign_in_with_a_newline_or_foreign_next_goes_to_the_dashboard(client, two, target):
    response = client.post("/admin/login", query_string={"next": target}, data={
        "username": "boss", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.location == "/admin/"


@pytest.mark.parametrize("target", BAD_NEXT)
def test_a_bad_next_field_on_an_alert_goes_back_to_the_default_page(admin_app, client, two, target):
    from server.alerts import Alert

    alert = Alert.create(kind="test", message="A 的告警", community_id=two.a.id)
    signed_in(client, "boss")
    response = client.post(f"/admin/alerts/{alert.id}/acknowledge", data={
        "next": target, "csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and response.location == "/admin/alerts"


@pytest.mark.parametrize("target, location", [(t, "/admin/adjustments") for t in BAD_NEXT]
                         + [("/admin/bills/7?tab=adj", "/admin/bills/7?tab=adj")])
def test_a_bad_next_field_on_an_adjustment_goes_back_to_the_adjustment_list(admin_app, client, two,
                                                                            target, location):
    from server.audit import Actor
    from server.billing import adjustments

    bill = f.bill(two.ha, f.fee_item(two.a, "WY", "物业费"))
    adj = adjustments.request_adjustment(bill.id, "waiver", -5_000, "测试", Actor.system("t"),
                                         approval_threshold_fen=1)
    signed_in(client, "boss")
    response = client.post(f"/admin/adjustments/{adj.id}/reject", data={
        "next": target, "csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and response.location == location


# ---------------------------------------------------------------- uploads, downloads
def test_the_upload_limit_is_set_and_a_too_large_upload_gets_a_chinese_413_page(admin_app, client, two):
    assert admin_app.config["MAX_CONTENT_LENGTH"] == admin.MAX_UPLOAD_BYTES
    signed_in(client, "cashier")
    token = csrf_token(client, "/admin/imports")
    admin_app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    body = b"building,unit,room\n" + b"1,1,101\n" * 10_000
    response = client.post("/admin/imports", data={
        "csrf_token": token, "kind": "houses", "community": str(two.a.id),
        "file": (io.BytesIO(body), "houses.csv")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 413 and "上传的文件太大（上限 64 KB）" in page
    assert AdminTask.select().count() == 0


def test_a_task_file_outside_the_exports_folder_is_never_served(admin_app, client, two):
    secret = pathlib.Path(admin_app.instance_path) / "secret_key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("do-not-serve")
    boss = StaffUser.get(StaffUser.username == "boss")
    signed_in(client, "boss")
    for name in ("../secret_key", str(secret), "exports/../../secret_key"):
        task = AdminTask.create(kind="export_houses", status=TaskStatus.DONE, staff_id=boss.id,
                                params={}, result={"file": name})
        response = client.get(f"/admin/tasks/{task.id}/download")
        assert response.status_code == 404 and b"do-not-serve" not in response.get_data()


# ---------------------------------------------------------------- injection
EVIL = '=HYPERLINK("//x.cn","点")<script>alert(1)</script>'  # owner_name holds 50


def test_owner_names_are_escaped_in_pages_and_neutralised_in_exports(client, two):
    House.update(owner_name=EVIL, owner_phone="+8613800001111").where(House.id == two.ha.id).execute()
    signed_in(client, "boss")
    page = client.get(f"/admin/houses/{two.ha.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    text = client.get("/admin/houses?export=csv").get_data().decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'" + EVIL in cells and EVIL not in cells and "'+8613800001111" in cells
    book = load_workbook(io.BytesIO(client.get("/admin/houses?export=xlsx").get_data()))
    values = [c.value for row in book.active.iter_rows() for c in row]
    assert "'" + EVIL in values and not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_background_export_cells_are_formula_safe_but_amounts_stay_numbers():
    assert exporting.cell("=1+1") == "'=1+1" and exporting.cell("@SUM(A1)") == "'@SUM(A1)"
    assert exporting.cell("-1+2") == "'-1+2" and exporting.cell("-50.00") == "-50.00"


def test_chart_labels_cannot_inject_markup():
    svg = charts.bar_chart([('<img src=x onerror=alert(1)>', 5, '1"><b>')], title='"><svg onload=x>')
    svg += charts.line_chart([("</text><script>", 5000, "50%")])
    assert "<img" not in svg and "<script" not in svg and "<b>" not in svg and "<svg onload" not in svg


# ---------------------------------------------------------------- ids in form fields
def test_a_cashier_cannot_pay_another_communitys_bill_through_the_allocation_fields(client, two):
    bill_b = f.bill(two.hb, f.fee_item(two.b, "WYF", "物业费"), amount_fen=10_000)
    signed_in(client, "cashier")
    response = client.post("/admin/offline-payments", data={
        "house": two.ha.id, "channel": "cash", "voucher_no": "V-X", "payer_name": "张三",
        "form_key": "k1", "bill": [bill_b.id], f"amount_{bill_b.id}": "100.00",
        "csrf_token": csrf_token(client, "/admin/offline-payments")})
    assert response.status_code in (302, 404, 422)
    assert PaymentOrder.select().count() == 0 and Payment.select().count() == 0
    assert Bill.get_by_id(bill_b.id).status == BillStatus.UNPAID


# ---------------------------------------------------------------- sign-in
def test_unknown_user_and_wrong_password_look_the_same(client, two, monkeypatch):
    calls = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: calls.append(h) or real(h, p))

    def attempt(username):
        response = client.post("/admin/login", data={"username": username, "password": "wrong",
                                                     "csrf_token": csrf_token(client)})
        page = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
        return response.status_code, page

    unknown, wrong = attempt("nobody"), attempt("boss")
    assert unknown == wrong and unknown[0] == 401 and "用户名或密码错误" in unknown[1]
    assert len(calls) == 2  # an argon2 verification in both cases (the same time spent)
    assert StaffUser.get(StaffUser.username == "boss").failed_logins == 1


def test_staff_api_tokens_never_reach_the_log(admin_app, caplog):
    with caplog.at_level("DEBUG"):
        admin_app.test_client().get("/api/admin/v1/bills",
                                    headers={"Authorization": "Bearer wps_secret-token-value-0123456789"})
    assert "secret-token-value" not in caplog.text
