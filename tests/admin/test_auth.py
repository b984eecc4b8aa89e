"""Staff sign-in: passwords, lockout, session lifetime, CSRF, roles and community scope."""
from __future__ import annotations

import datetime as dt

from flask import Flask

from server.admin import auth
from server.admin.auth import LoginResult, require_role, staff_communities
from server.audit import AuditLog
from server.staff.models import StaffRole, StaffUser
from server.timeutil import utcnow
from tests import factories as f
from tests.admin import fixtures
from tests.admin.conftest import PASSWORD, csrf_token, login, make_staff


def _actions(username):
    return [a.action for a in AuditLog.select().where(AuditLog.actor_id == username)
            .order_by(AuditLog.id)]


def test_login_with_the_right_password_opens_the_dashboard_and_is_audited(client):
    make_staff("boss")
    response = login(client, "boss")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "收缴率（按金额）" in page.get_data(as_text=True)
    assert _actions("boss") == ["staff.login"]
    assert StaffUser.get(username="boss").last_login_at is not None


def test_wrong_password_is_refused_and_the_dashboard_needs_a_login(client):
    make_staff("boss")
    response = login(client, "boss", "wrong password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert login(client, "nobody").status_code == 401
    assert _actions("boss") == ["staff.login_failed"]
    assert _actions("nobody") == ["staff.login_failed"]


def test_the_tenth_wrong_password_locks_the_account_for_fifteen_minutes(client):
    make_staff("boss")
    for _ in range(9):
        assert login(client, "boss", "guess").status_code == 401
    assert StaffUser.get(username="boss").locked_until is None
    response = login(client, "boss", "guess")
    assert response.status_code == 423
    assert "账号已锁定" in response.get_data(as_text=True)
    user = StaffUser.get(username="boss")
    assert user.failed_logins == 10
    assert dt.timedelta(minutes=14) < user.locked_until - utcnow() <= dt.timedelta(minutes=15)
    # Even the right password is refused while locked.
    assert login(client, "boss").status_code == 423
    assert client.get("/admin/").status_code == 302
    actions = _actions("boss")
    assert actions.count("staff.login_failed") == 10
    assert actions[-2:] == ["staff.locked", "staff.login_refused"]
    # Sixteen minutes later the right password works and the count starts again.
    result, _ = auth.authenticate("boss", PASSWORD, now=utcnow() + dt.timedelta(minutes=16))
    assert result == LoginResult.OK
    user = StaffUser.get(username="boss")
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_successful_login_resets_the_failure_count(client):
    make_staff("boss")
    for _ in range(3):
        login(client, "boss", "guess")
    assert StaffUser.get(username="boss").failed_logins == 3
    assert login(client, "boss").status_code == 302
    assert StaffUser.get(username="boss").failed_logins == 0


def test_the_session_expires_eight_hours_after_login(client):
    make_staff("boss")
    login(client, "boss")
    with client.session_transaction() as session:
        session["login_at"] -= 7 * 3600
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        session["login_at"] -= 3600 + 1
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.get("/admin/").status_code == 302  # and stays signed out


def test_logout_ends_the_session(client):
    make_staff("boss")
    login(client, "boss")
    token = csrf_token(client, "/admin/")
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302
    assert _actions("boss")[-1] == "staff.logout"


def test_forms_without_a_csrf_token_are_refused(client):
    make_staff("boss")
    response = client.post("/admin/login", data={"username": "boss", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert _actions("boss") == []
    login(client, "boss")
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200  # still signed in


def test_the_owner_api_and_the_wechat_callback_need_no_csrf_token(client):
    for path in ("/payments/wechatpay/notify", "/api/v1/auth/login"):
        response = client.post(path, json={})
        assert "CSRF" not in response.get_data(as_text=True), path
        assert response.status_code != 400 or "csrf" not in response.get_data(as_text=True).lower()


def test_a_cashier_of_a_sees_only_a_and_gets_404_for_b(client):
    fx = fixtures.build()
    make_staff("cashier", StaffRole.CASHIER, [fx.a])
    login(client, "cashier")
    assert client.get("/admin/?community=B&period=2026-10&as_of=2026-11-20").status_code == 404
    assert client.get("/admin/?community=NOPE").status_code == 404
    page = client.get("/admin/?period=2026-10&as_of=2026-11-20").get_data(as_text=True)
    assert 'id="rate-amount">69.93%' in page
    assert "翠湖苑" not in page
    assert 'id="open-recon"' not in page
    page = client.get("/admin/?community=A&period=2026-10&as_of=2026-11-20").get_data(as_text=True)
    assert 'id="rate-amount">69.93%' in page


def test_an_admin_sees_every_community(client):
    fixtures.build()
    make_staff("boss")
    login(client, "boss")
    page = client.get("/admin/?period=2026-10&as_of=2026-11-20").get_data(as_text=True)
    assert 'id="rate-amount">74.94%' in page
    assert 'id="rate-household">50.00%' in page
    assert 'id="open-recon">1<' in page
    assert "翠湖苑" in page and "阳光小区" in page
    page = client.get("/admin/?community=B&period=2026-10&as_of=2026-11-20").get_data(as_text=True)
    assert 'id="rate-amount">100.00%' in page


def test_staff_communities_are_all_for_admins_and_the_linked_ones_for_others(database):
    a, b = f.community(code="A"), f.community(code="B")
    boss = make_staff("boss")
    viewer = make_staff("viewer", StaffRole.VIEWER, [b])
    assert [c.code for c in staff_communities(boss)] == ["A", "B"]
    assert [c.code for c in staff_communities(viewer)] == ["B"]
    assert list(staff_communities(make_staff("lonely", StaffRole.MANAGER))) == []
    assert a.id  # A exists but is not the viewer's


def test_require_role_refuses_other_roles_with_403(admin_app):
    @require_role(StaffRole.ADMIN, StaffRole.MANAGER)
    def managers_only():
        return "ok"

    admin_app.add_url_rule("/admin/_test_managers", view_func=managers_only)
    client = admin_app.test_client()
    fx = fixtures.build()
    make_staff("viewer", StaffRole.VIEWER, [fx.a])
    make_staff("manager", StaffRole.MANAGER, [fx.a])
    assert client.get("/admin/_test_managers").status_code == 302
    login(client, "viewer")
    assert client.get("/admin/_test_managers").status_code == 403
    client = admin_app.test_client()
    login(client, "manager")
    assert client.get("/admin/_test_managers").status_code == 200


def test_init_app_twice_is_harmless(admin_app):
    from server import admin

    admin.init_app(admin_app)
    assert isinstance(admin_app, Flask) and "admin" in admin_app.blueprints


def test_sign_in_attempts_are_rate_limited_per_address(database, make_app):
    from server import admin
    from server import db as dbmod

    app = make_app(database.test_url)
    app.config["RATELIMIT_ADMIN_LOGIN"] = "3 per minute"
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    client = app.test_client()
    make_staff("boss")
    statuses = [login(client, "boss", "guess").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert client.get("/admin/login").status_code == 200  # the form itself is not limited


def test_bad_dashboard_filters_are_400_not_500(client):
    make_staff("boss")
    login(client, "boss")
    assert client.get("/admin/?as_of=2026-13-01").status_code == 400
    assert client.get("/admin/?period=2026-1").status_code == 400
