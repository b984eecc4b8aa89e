"""What every staff page shares: who is acting, which communities they may see,
role checks for changes, turning refused operations into a flash message,
pagination, and list exports to CSV/XLSX.

Scope rule: a record of a community the signed-in staff member may not see is
answered with 404 (not 403), so ids of other communities reveal nothing.
Roles: ``viewer`` reads; ``cashier`` takes payments and requests; ``manager``
and ``admin`` also approve, publish, issue and resolve.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user

from server.audit import Actor
from server.errors import DomainError
from server.staff.models import StaffRole, StaffUser

# Who may do what (``require_role(*WRITE)`` etc. on the view).
READ = StaffRole.ALL
WRITE = (StaffRole.ADMIN, StaffRole.MANAGER, StaffRole.CASHIER)
MANAGE = (StaffRole.ADMIN, StaffRole.MANAGER)
ADMIN_ONLY = (StaffRole.ADMIN,)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def staff() -> StaffUser:
    return current_user.user


def actor() -> Actor:
    return Actor.staff(current_user.user)


def permitted_communities():
    """The communities the signed-in staff member may see (a query, ordered by code)."""
    from server.admin.auth import staff_communities

    return staff_communities(current_user.user)


def permitted_community_ids() -> list[int]:
    return [c.id for c in permitted_communities()]


def check_community(community_id: int | None) -> None:
    """404 unless the signed-in staff member may see ``community_id``."""
    if community_id is None or community_id not in permitted_community_ids():
        abort(404)


def community_or_404(community_id: int):
    from server.property.models import Community

    check_community(community_id)
    return Community.get_by_id(community_id)


def chosen_community_ids(param: str = "community") -> list[int]:
    """The ``?community=<id>`` filter if given (and permitted), else all permitted ids."""
    raw = request.args.get(param, "")
    permitted = permitted_community_ids()
    if not raw:
        return permitted
    try:
        chosen = int(raw)
    except ValueError:
        abort(400, "小区参数无效")
    if chosen not in permitted:
        abort(404)
    return [chosen]


def can(*roles: str) -> bool:
    return current_user.is_authenticated and current_user.role in roles


def safe_next(target: str | None, default: str, *, prefix: str = "/admin") -> str:
    """``target`` when it is a path of this site under ``prefix`` (a ``next`` field or
    parameter to go back to), else ``default``.  Refused: a scheme or host
    ("https://evil.example/admin", "//evil.example"), a backslash or ``//`` in the
    path, and control characters (a newline in a Location header is a 500)."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return default
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 or ch in "\\\u2028\u2029" for ch in target):
        return default
    try:
        parts = urlsplit(target)
    except ValueError:
        return default
    if parts.scheme or parts.netloc or "//" in parts.path:
        return default
    root = prefix.rstrip("/")
    if parts.path != root and not parts.path.startswith(root + "/"):
        return default
    return target


def run_action(fn: Callable, *, success: str, redirect_to: str, error_redirect: str | None = None):
    """Call ``fn()``; flash ``success`` (formatted with the result as ``r``) or the
    refusal's message, then redirect (POST → redirect → GET)."""
    try:
        result = fn()
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(error_redirect or redirect_to)
    flash(success.format(r=result) if "{" in success else success, "ok")
    return redirect(redirect_to)


def form_int(name: str, *, required: bool = True, minimum: int | None = None) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            raise DomainError(f"请填写 {name}", code="VALIDATION_ERROR", status=422)
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DomainError(f"{name} 应为整数", code="VALIDATION_ERROR", status=422) from None
    if minimum is not None and value < minimum:
        raise DomainError(f"{name} 不能小于 {minimum}", code="VALIDATION_ERROR", status=422)
    return value


def form_fen(name: str, *, required: bool = True) -> int | None:
    """A yuan amount typed by staff ("12.30") as integer fen; refuses more than 2 decimals."""
    from server.money import MoneyError, yuan_to_fen

    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            raise DomainError("请填写金额", code="VALIDATION_ERROR", status=422)
        return None
    try:
        return yuan_to_fen(raw)
    except MoneyError as exc:
        raise DomainError(f"金额格式不正确：{raw}", code="VALIDATION_ERROR", status=422) from exc


def arg_date(name: str, default: dt.date | None = None) -> dt.date | None:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, "日期格式应为 YYYY-MM-DD")


@dataclass
class Page:
    items: list
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(query, size: int = 50) -> Page:
    """One page of ``query`` (``?page=N``), with the total count."""
    try:
        number = max(1, int(request.args.get("page", "1")))
    except ValueError:
        number = 1
    total = query.count()
    items = list(query.paginate(number, size))
    return Page(items, number, size, total)


def page_url(page_number: int) -> str:
    """The current URL with ``page`` replaced (for the pager macro)."""
    args = request.args.to_dict()
    args["page"] = str(page_number)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def export_url(fmt: str) -> str:
    """The current list's URL with ``export=csv|xlsx`` (for the export links)."""
    args = request.args.to_dict()
    args.pop("page", None)
    args["export"] = fmt
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def wants_export() -> str | None:
    fmt = request.args.get("export")
    if fmt is None:
        return None
    if fmt not in ("csv", "xlsx"):
        abort(400, "导出格式应为 csv 或 xlsx")
    return fmt


def cell(value):
    """A value as every export writes it: text formula-safe, a signed amount ("-50.00")
    left a number, dates in ISO form."""
    from server.imports.writers import safe_text

    if value is None:
        return ""
    if isinstance(value, str):
        return value if _NUMBER.fullmatch(value) else safe_text(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def export_response(filename: str, headers: Sequence[str], rows: Iterable[Sequence], fmt: str,
                    *, sheet_title: str = "Sheet1") -> Response:
    """A list as a CSV (UTF-8 with BOM) or XLSX download; text is formula-safe.

    Money must already be yuan strings (``format_yuan``) so the file's totals
    equal the ledger's.  For exports of tens of thousands of rows start a task
    instead (``server.tasks``).
    """
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([cell(v) for v in row])
        body = buffer.getvalue().encode("utf-8")
        mimetype = "text/csv; charset=utf-8"
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(sheet_title[:31])
        sheet.append(list(headers))
        for row in rows:
            sheet.append([cell(v) for v in row])
        out = io.BytesIO()
        book.save(out)
        body = out.getvalue()
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    from urllib.parse import quote

    name = f"{filename}.{fmt}"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename=\"export.{fmt}\"; filename*=UTF-8''{quote(name)}"})


def role_required_for_change(view):
    """Shorthand for POST views that change data: any role but ``viewer``."""
    from server.admin.auth import require_role

    return require_role(*WRITE)(view)


def local_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    from server.timeutil import local_now

    return local_now(value).strftime("%Y-%m-%d %H:%M")


__all__ = ["READ", "WRITE", "MANAGE", "ADMIN_ONLY", "staff", "actor", "permitted_communities",
           "permitted_community_ids", "check_community", "community_or_404",
           "chosen_community_ids", "can", "run_action", "form_int", "form_fen", "arg_date", "Page",
           "paginate", "page_url", "export_url", "wants_export", "export_response",
           "local_time", "functools"]
