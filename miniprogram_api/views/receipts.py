"""``/payments`` and ``/receipts``: what I paid, and the receipt (收据) of each payment.

A receipt is JSON by default and a printable page (Chinese, no external
assets) with ``?format=html`` or when ``text/html`` is preferred in ``Accept``
(a browser).  Both need the bearer token, like every owner route.  The JSON
carries ``print_url``: the same page behind a signed, short-lived link for the
mini-program's ``<web-view>``, which cannot send a bearer header
(:mod:`server.owners.receipt_links`); that page answers its errors in HTML.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, g, make_response, render_template, request, url_for

from miniprogram_api.blueprint import bp
from miniprogram_api.contract import operation, page
from miniprogram_api.schemas.orders import (PaymentsOut, PaymentsQuery, ReceiptOut, ReceiptPage,
                                            ReceiptQuery)
from server.errors import DomainError
from server.owners import history, receipt_links
from server.timeutil import utcnow

TTL_SETTING = "RECEIPT_LINK_TTL_SECONDS"


@bp.get("/payments")
@operation("My payment history with receipts, bills paid and refunds", tag="payments",
           query=PaymentsQuery, response=PaymentsOut)
def list_payments(owner_id: int, query: PaymentsQuery):
    """Payments for orders I placed and payments on bills of my houses (counter payments
    too), newest first."""
    return history.payment_history(owner_id, limit=query.limit, offset=query.offset)


def wants_html(query: ReceiptQuery) -> bool:
    if query.format is not None:
        return query.format == "html"
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _ttl() -> int:
    return int(current_app.config.get(TTL_SETTING) or receipt_links.DEFAULT_TTL_SECONDS)


def _page(data: ReceiptPage, status: int = 200):
    response = make_response(render_template("miniprogram_api/receipt.html", r=data), status)
    response.mimetype = "text/html"
    return response


def _print_link(number: str, owner_id: int) -> dict:
    token = receipt_links.sign(current_app.config["SECRET_KEY"], number, owner_id,
                               g.owner_session.id)
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    path = url_for("api_v1.print_receipt", number=number, t=token)
    # Whole seconds: the signature's timestamp is whole seconds too.
    expires = utcnow().replace(microsecond=0) + dt.timedelta(seconds=_ttl())
    return {"print_url": base + path, "print_url_expires_at": expires}


@bp.get("/receipts/<number>")
@operation("A receipt as JSON, or as a printable page", tag="payments", query=ReceiptQuery,
           response=ReceiptOut, html=True)
def get_receipt(owner_id: int, number: str, query: ReceiptQuery):
    """`?format=html` (or `Accept: text/html`) gives the printable 收据 page; amounts in
    yuan, time in Asia/Shanghai.  404 RECEIPT_NOT_FOUND for a number that is not mine.
    The JSON's `print_url` opens the same page without a bearer token, for a while."""
    found = history.receipt(owner_id, number)
    if not wants_html(query):
        return ReceiptOut.model_validate({**found, **_print_link(number, owner_id)})
    response = _page(ReceiptPage.model_validate(found))
    response.vary.add("Accept")
    return response


@bp.get("/receipts/<number>/print")
@page("A receipt's printable page behind a signed link (for a web-view)", tag="payments",
      errors=(403, 410),
      params=[{"name": "t", "in": "query", "required": True, "schema": {"type": "string"},
               "description": "the signature from the receipt's `print_url`"}])
def print_receipt(number: str):
    """The printable page behind a signed link (``?t=``), for a web-view: no bearer
    token.  403 for an altered link or a finished session, 410 once expired, 404 when
    the receipt is no longer the owner's; every answer is a page, never JSON."""
    try:
        owner_id = receipt_links.verify(current_app.config["SECRET_KEY"], request.args.get("t", ""),
                                        number, max_age=_ttl())
        data = ReceiptPage.model_validate(history.receipt(owner_id, number))
    except DomainError as exc:
        page = render_template("miniprogram_api/receipt_error.html", error=exc)
        response = make_response(page, exc.status)
        response.mimetype = "text/html"
    else:
        response = _page(data)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
