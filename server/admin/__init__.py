"""Staff admin pages under /admin: sign-in, roles, the dashboard.

``init_app`` installs Flask-Login, CSRF protection for /admin only (the owner
API and the WeChat Pay callback have their own authentication and must not
need a form token), the absolute session lifetime, the response security
headers (a strict Content-Security-Policy, no framing, no caching of staff
pages), the session cookie flags, the upload size limit and the blueprint.
"""
from __future__ import annotations

import datetime as dt

from flask import Flask, redirect, request, session, url_for
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from server.admin import auth
from server.timeutil import utcnow

SESSION_LIFETIME = dt.timedelta(hours=8)
# Request bodies (import uploads above all) larger than this answer 413.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Pages only load this origin's script and stylesheet; inline style attributes
# (progress bars, print slips) are allowed, inline scripts and framing are not.
ADMIN_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
             "frame-ancestors 'none'")
# A SECRET_KEY signs the staff session: outside demo mode and tests a short or
# well-known one is refused at start-up (unset, a random one is generated).
MIN_SECRET_KEY_LENGTH = 32
WEAK_SECRET_KEYS = {"dev", "development", "secret", "secret-key", "changeme", "change-me",
                    "testing-secret-key", "wuyepay", "please-change-me"}

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "请先登录"
login_manager.session_protection = "strong"
login_manager.user_loader(auth.load_staff)


ERROR_TITLES = {400: "请求有误", 401: "请先登录", 403: "没有权限", 404: "找不到该页面或记录",
                405: "不支持的操作", 409: "操作冲突", 413: "文件太大", 422: "输入有误",
                423: "账号已锁定", 429: "操作太频繁", 500: "服务器内部错误", 503: "服务暂不可用"}


def _error_page(status: int, code: str, message: str):
    from flask import current_app, make_response, render_template

    if code == "BAD_REQUEST" and message and "CSRF" in message:
        message = "表单已过期或缺少安全令牌（CSRF），请刷新页面后重试。"
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or MAX_UPLOAD_BYTES
        size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
        message = f"上传的文件太大（上限 {size}），请拆分后分批导入。"
    body = render_template("admin/error.html", status=status, code=code,
                           title=ERROR_TITLES.get(status, "出错了"), message=message)
    return make_response(body, status)


def init_app(app: Flask) -> None:
    from server import errors
    from server.admin.views import bp

    if bp.name in app.blueprints:  # already installed (create_app and a test both call us)
        return
    if not any(prefix == "/admin" for prefix, _ in errors.HTML_ERROR_PAGES):
        errors.HTML_ERROR_PAGES.append(("/admin", _error_page))
    # Flask's own defaults (31 days, refreshed on every request) are replaced:
    # a staff session lasts ADMIN_SESSION_LIFETIME from sign-in, whatever the activity.
    app.config.setdefault("ADMIN_SESSION_LIFETIME", SESSION_LIFETIME)
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["ADMIN_SESSION_LIFETIME"]
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # Served over https: the session cookie never travels in clear text.
    https = str(app.config.get("PUBLIC_BASE_URL") or "").lower().startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE")) or https
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    check_secret_key(app.config)
    # Checked only where we ask (the admin blueprint), never on /api/v1 or the callback.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    csrf.init_app(app)
    login_manager.init_app(app)
    app.after_request(security_headers)
    app.register_blueprint(bp)


def check_secret_key(config) -> None:
    """Refuse a short or well-known SECRET_KEY outside demo mode and tests."""
    from server.config import ConfigError

    if config.get("TESTING") or config.get("DEMO_MODE"):
        return
    key = config.get("SECRET_KEY") or ""
    key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
    if len(key_text) < MIN_SECRET_KEY_LENGTH or key_text.strip().lower() in WEAK_SECRET_KEYS:
        raise ConfigError(f"SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random "
                          "characters, or leave it unset to have one generated into the instance folder")


def security_headers(response):
    """Headers for every response; the strict ones for the staff pages under /admin."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    path = request.path
    if path == "/admin" or path.startswith("/admin/"):
        headers.setdefault("Content-Security-Policy", ADMIN_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        if not path.startswith("/admin/static/"):
            # Owners' names and phones, amounts, one-time codes: never kept by a browser or proxy.
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
    return response


def protect():
    """Expire sessions older than the lifetime, then check the CSRF token of every form."""
    if current_user.is_authenticated:
        started = session.get("login_at")
        limit = _lifetime()
        if not isinstance(started, int) or utcnow().timestamp() - started > limit.total_seconds():
            logout_user()
            session.clear()
            return redirect(url_for("admin.login", next=request.path))
    csrf.protect()
    return None


def _lifetime() -> dt.timedelta:
    from flask import current_app

    value = current_app.config["PERMANENT_SESSION_LIFETIME"]
    return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=int(value))
