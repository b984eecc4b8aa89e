"""``/payments`` and ``/receipts``: what I paid, and the receipt (收据) of each payment.

A receipt is JSON by default and a printable page (Chinese, no external
assets) with ``?format=html`` or when ``text/html`` is preferred in ``Accept``
(a browser).  Both need the bearer token, like every owner route.
"""
from __future__ import annotations

from flask import make_response, render_template, request

from miniprogram_api.blueprint import bp
from miniprogram_api.contract import operation
from miniprogram_api.schemas.orders import PaymentsOut, PaymentsQuery, ReceiptOut, ReceiptQuery
from server.owners import history


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


@bp.get("/receipts/<number>")
@operation("A receipt as JSON, or as a printable page", tag="payments", query=ReceiptQuery,
           response=ReceiptOut, html=True)
def get_receipt(owner_id: int, number: str, query: ReceiptQuery):
    """`?format=html` (or `Accept: text/html`) gives the printable 收据 page; amounts in
    yuan, time in Asia/Shanghai.  404 RECEIPT_NOT_FOUND for a number that is not mine."""
    data = ReceiptOut.model_validate(history.receipt(owner_id, number))
    if not wants_html(query):
        return data
    page = render_template("miniprogram_api/receipt.html", r=data)
    response = make_response(page)
    response.mimetype = "text/html"
    response.vary.add("Accept")
    return response
