"""Staff admin pages under /admin: sign-in, roles, the dashboard.

``init_app`` installs Flask-Login, CSRF protection for /admin only (the owner
API and the WeChat Pay callback have their own authentication and must not
need a form token), the absolute session lifetime and the blueprint.
"""
from __future__ import annotations

import datetime as dt

from flask import Flask, redirect, request, session, url_for
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from server.admin import auth
from server.timeutil import utcnow

SESSION_LIFETIME = dt.timedelta(hours=8)

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "请先登录"
login_manager.session_protection = "strong"
login_manager.user_loader(auth.load_staff)


def init_app(app: Flask) -> None:
    from server.admin.views import bp

    if bp.name in app.blueprints:  # already installed (create_app and a test both call us)
        return
    # Flask's own defaults (31 days, refreshed on every request) are replaced:
    # a staff session lasts ADMIN_SESSION_LIFETIME from sign-in, whatever the activity.
    app.config.setdefault("ADMIN_SESSION_LIFETIME", SESSION_LIFETIME)
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["ADMIN_SESSION_LIFETIME"]
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # Checked only where we ask (the admin blueprint), never on /api/v1 or the callback.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    csrf.init_app(app)
    login_manager.init_app(app)
    app.register_blueprint(bp)


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
