"""Read side of reconciliation for the staff pages: days, differences, and whose they are.

Reconciliation is merchant-wide (one WeChat Pay trade bill per day for every
community), but each difference concerns one payment or refund, and that
payment belongs to a community.  The community of an item is the one of our
order (by ``out_trade_no``), else of our payment (by ``transaction_id``), else
of the payment our refund came from (by ``out_refund_no``); it is unknown when
we have none of them (e.g. money WeChat took for an order we never created).

Who sees what: admins see every day's merchant-wide totals and every item;
other staff see the days and only the items of their communities (items of no
known community are for admins only).
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from payments.models import PaymentOrder
from server.ledger.models import Payment, Refund
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.reconciliation.service import KEPT_DAYS

_PO = PaymentOrder.alias("recon_po")
_PAY = Payment.alias("recon_pay")
_REF = Refund.alias("recon_ref")
_RPAY = Payment.alias("recon_rpay")

# What the matcher already did on its own, by the item's ``details``.
CREDIT_OUTCOMES = {"applied": "已通过唯一入账路径补记入账", "already_applied": "已入账（重复通知）"}


def item_community():
    """The SQL expression of an item's community (NULL when unknown); needs ``_joined``."""
    return pw.fn.COALESCE(_PO.community, _PAY.community, _RPAY.community)


def _joined(query):
    I = ReconciliationItem
    return (query
            .join(_PO, pw.JOIN.LEFT_OUTER,
                  on=((_PO.out_trade_no == I.out_trade_no) & (I.out_trade_no != "")), src=I)
            .join(_PAY, pw.JOIN.LEFT_OUTER, on=(_PAY.transaction_id == I.reference), src=I)
            .join(_REF, pw.JOIN.LEFT_OUTER, on=(_REF.out_refund_no == I.reference), src=I)
            .join(_RPAY, pw.JOIN.LEFT_OUTER, on=(_RPAY.id == _REF.payment), src=_REF))


def _scoped(query, community_ids: list[int] | None):
    """``community_ids`` None: every item (admins); else only those communities' items."""
    if community_ids is None:
        return query
    if not community_ids:
        return query.where(pw.SQL("1 = 0"))
    return query.where(item_community().in_(community_ids))


def items(*, community_ids: list[int] | None, run_id: int | None = None, state: str = "open",
          kind: str = "", reference: str = "", since: dt.date | None = None,
          until: dt.date | None = None):
    """Differences with their run and community (``community_id`` on each row), newest first.
    ``state``: ``open`` (unresolved), ``resolved`` or ``all``."""
    I, R = ReconciliationItem, ReconciliationRun
    query = _joined(I.select(I, R, item_community().alias("community_id")).join(R, src=I))
    query = _scoped(query, community_ids)
    if run_id is not None:
        query = query.where(I.run == run_id)
    if state == "open":
        query = query.where(I.resolved_at.is_null())
    elif state == "resolved":
        query = query.where(I.resolved_at.is_null(False))
    if kind:
        query = query.where(I.kind == kind)
    if reference:
        query = query.where((I.reference == reference) | (I.out_trade_no == reference))
    if since is not None:
        query = query.where(R.bill_date >= since)
    if until is not None:
        query = query.where(R.bill_date <= until)
    return query.order_by(R.bill_date.desc(), I.id.desc())


def community_of_item(item_id: int) -> tuple[ReconciliationItem | None, int | None]:
    """The item and its community (None when unknown)."""
    I = ReconciliationItem
    row = _joined(I.select(I, item_community().alias("community_id"))).where(I.id == item_id).first()
    if row is None:
        return None, None
    return row, row.community_id


def days(today: dt.date, *, community_ids: list[int] | None) -> list[dict]:
    """Every date of the bill's lifetime (newest first) with its run, if any, and the
    count of differences (all / unresolved) visible to the caller.  Three queries."""
    first, last = today - dt.timedelta(days=KEPT_DAYS), today - dt.timedelta(days=1)
    runs = {r.bill_date: r for r in ReconciliationRun.select().where(
        ReconciliationRun.bill_date.between(first, last))}
    I = ReconciliationItem
    open_count = pw.fn.SUM(pw.Case(None, [(I.resolved_at.is_null(), 1)], 0))
    counts = {}
    if runs:
        query = _scoped(_joined(I.select(I.run, pw.fn.COUNT(I.id), open_count)), community_ids)
        for run_id, total, unresolved in query.where(I.run.in_([r.id for r in runs.values()])) \
                .group_by(I.run).tuples():
            counts[run_id] = (int(total), int(unresolved or 0))
    result = []
    for offset in range((last - first).days + 1):
        day = last - dt.timedelta(days=offset)
        run = runs.get(day)
        total, unresolved = counts.get(run.id, (0, 0)) if run else (0, 0)
        result.append({"date": day, "run": run, "differences": total, "unresolved": unresolved})
    return result


def action_taken(item: ReconciliationItem) -> str:
    """What was done about the item, in Chinese, for the pages and the export."""
    details = item.details or {}
    if item.kind == "missing_local":
        outcome = details.get("credit", "")
        done = CREDIT_OUTCOMES.get(outcome)
        if done:
            return done
        problems = "；".join(details.get("problems") or [])
        return f"未能自动入账（{problems or outcome}）"
    if details.get("problem") == "listed_again":
        return f"微信对账单重复列出 {details.get('times')} 次"
    return "待人工核查"
