"""Matching a trade bill against our ledger, set by set (R12).

The bill's rows stream from the reader into a temporary table of this
connection (kind, reference, out_trade_no, state, amount; hundreds of rows per
INSERT); then a handful of queries, each a join the database runs on our
unique indexes, list every difference:

- a row WeChat lists twice (found when the table's unique index will not build);
- a successful payment row with no payment of ours → ``missing_local``,
  credited at once through ``credit_wechat_transaction`` (the exactly-once
  path of the callback and the query) with an alert;
- a payment row whose amount differs from ours → ``amount_mismatch``; whose
  state differs (not SUCCESS at WeChat, or our order not paid) → ``status_mismatch``;
- a refund row missing here, or differing in amount or outcome → ``refund_mismatch``;
- our WeChat payments (refunds) of the day that the bill does not list →
  ``missing_remote`` (``refund_mismatch``).

Memory stays flat whatever the size of the bill: Python holds one batch of
rows, the database the rest.  The temporary table lives until the connection
closes (a job's does, at its end) or the next reconciliation replaces it:
dropping a million rows costs more than the rest of the comparison.  Items
are unique per (run, kind, reference): matching the same bill again adds nothing.
"""
from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections import Counter
from typing import Callable

import peewee as pw

from payments.models import Channel, OrderStatus, PaymentOrder
from payments.settlement import Outcome, credit_wechat_transaction
from server.alerts import raise_alert
from server.db import database, is_sqlite
from server.ledger.models import Payment, Refund, RefundStatus
from server.reconciliation.billfile import PAYMENT, REFUND, BillReader, BillRow
from server.reconciliation.models import ItemKind, ReconciliationItem, ReconciliationRun
from server.timeutil import SHANGHAI, local_midnight_utc, utcnow

BATCH = 500
PAID_LIKE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
STAGE = "recon_rows"
_STAGED = BillRow._fields
Stage = pw.Table(STAGE, _STAGED)
_DDL = (f"CREATE TEMPORARY TABLE {STAGE} (kind VARCHAR(1) NOT NULL, reference VARCHAR(64) NOT NULL, "
        "out_trade_no VARCHAR(32) NOT NULL, state VARCHAR(16) NOT NULL, amount_fen BIGINT NOT NULL)")
# For a payment we lack: (when, appid, mchid, currency) of each transaction_id asked for.
Details = Callable[[set], dict]


@functools.lru_cache(maxsize=8)
def _insert_sql(rows: int, param: str) -> str:
    one = "(" + ", ".join([param] * len(_STAGED)) + ")"
    return f"INSERT INTO {STAGE} ({', '.join(_STAGED)}) VALUES " + ", ".join([one] * rows)


def _txn(ref: str, otn: str, amount: int, when: str, appid: str, mchid: str, currency: str) -> dict:
    """WeChat's transaction object (§4) as the bill states it, for the credit path."""
    txn = {"mchid": mchid, "appid": appid, "out_trade_no": otn, "transaction_id": ref,
           "trade_state": "SUCCESS", "amount": {"total": amount, "currency": currency or "CNY"}}
    if when:
        paid_at = dt.datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        txn["success_time"] = paid_at.isoformat()
    return txn


class Matcher:
    def __init__(self, run: ReconciliationRun, *, mchid: str, appid: str):
        self.run, self.mchid, self.appid = run, mchid, appid
        self.new_items: Counter = Counter()
        self.listed_twice = False
        database.execute_sql(f"DROP TABLE IF EXISTS {STAGE}")
        database.execute_sql(_DDL)

    # ------------------------------------------------------------ the bill
    def feed(self, reader: BillReader) -> None:
        """Stage every row of the bill."""
        rows = iter(reader)
        # Only this connection's temporary table is written: on SQLite a deferred
        # transaction, which never takes the main database's write lock.
        with database.atomic(**({"lock_type": "DEFERRED"} if is_sqlite() else {})):
            while batch := list(itertools.islice(rows, BATCH)):
                values = list(itertools.chain.from_iterable(batch))
                database.execute_sql(_insert_sql(len(batch), database.param), values)
        try:    # a bill that lists a key twice is the exception: then look for it
            database.execute_sql(f"CREATE UNIQUE INDEX {STAGE}_key ON {STAGE} (reference, kind)")
        except pw.IntegrityError:
            database.execute_sql(f"CREATE INDEX {STAGE}_key ON {STAGE} (reference, kind)")
            self.listed_twice = True

    def compare(self, day: dt.date, details: Details) -> dict:
        """Every difference; returns our own totals of the day."""
        start, end = local_midnight_utc(day), local_midnight_utc(day + dt.timedelta(days=1))
        ours = ((Payment.channel == Channel.WECHAT) & (Payment.received_at >= start)
                & (Payment.received_at < end))
        if self.listed_twice:
            self._listed_twice()
        listed_ours = self._payments(ours, details)
        self._refunds()
        return self._ours(ours, listed_ours, start, end)

    def _listed_twice(self) -> None:
        S = Stage
        count = pw.fn.COUNT(pw.SQL("*"))
        query = (S.select(S.kind, S.reference, pw.fn.MIN(S.out_trade_no), pw.fn.SUM(S.amount_fen), count)
                 .group_by(S.kind, S.reference).having(count > 1).bind(database).tuples())
        for kind, ref, otn, total, times in list(query):
            self._insert(ItemKind.AMOUNT_MISMATCH if kind == PAYMENT else ItemKind.REFUND_MISMATCH, ref,
                         out_trade_no=otn, remote_fen=int(total),
                         details={"problem": "listed_again", "times": times})

    def _payments(self, ours, details: Details) -> int:
        """Differences of the bill's payment rows; returns how many of our payments of
        the day the bill lists.  One aggregate pass; the rows only when some differ."""
        S, P, PO = Stage, Payment, PaymentOrder
        differs = (P.id.is_null() & (S.state == "SUCCESS")) | (P.id.is_null(False) & (
            (S.state != "SUCCESS") | (P.amount_fen != S.amount_fen) | PO.status.not_in(PAID_LIKE)))

        def joined(query):
            return (query.join(P, pw.JOIN.LEFT_OUTER, on=(P.transaction_id == S.reference))
                    .join(PO, pw.JOIN.LEFT_OUTER, on=(PO.id == P.order))
                    .where(S.kind == PAYMENT).bind(database))

        differing, listed_ours = joined(S.select(pw.fn.SUM(pw.Case(None, [(differs, 1)], 0)),
                                                 pw.fn.SUM(pw.Case(None, [(ours, 1)], 0)))).tuples().first()
        if not differing:
            return int(listed_ours or 0)
        rows = list(joined(S.select(S.reference, S.out_trade_no, S.state, S.amount_fen, P.id, P.amount_fen,
                                    PO.status)).where(differs).tuples())
        missing = {row[0] for row in rows if row[4] is None}
        found = details(missing) if missing else {}
        for ref, otn, state, amount, payment_id, local_fen, status in rows:
            if payment_id is None:
                self._missing_local(_txn(ref, otn, amount, *found[ref]))
                continue
            kind = (ItemKind.STATUS_MISMATCH if state != "SUCCESS" or status not in PAID_LIKE
                    else ItemKind.AMOUNT_MISMATCH)
            self._insert(kind, ref, out_trade_no=otn, remote_fen=amount, remote_status=state,
                         local_fen=local_fen, local_status=status or "")
        return int(listed_ours or 0)

    def _refunds(self) -> None:
        S, R = Stage, Refund
        wechat_success, ours_success = S.state == "SUCCESS", R.status == RefundStatus.SUCCESS
        differs = R.id.is_null() | (wechat_success & ~ours_success) | (~wechat_success & ours_success) \
            | (R.amount_fen != S.amount_fen)
        query = (S.select(S.reference, S.out_trade_no, S.state, S.amount_fen, R.id, R.amount_fen, R.status)
                 .join(R, pw.JOIN.LEFT_OUTER, on=(R.out_refund_no == S.reference))
                 .where((S.kind == REFUND) & differs).bind(database).tuples())
        for ref, otn, state, amount, refund_id, local_fen, status in list(query):
            if refund_id is None:
                problem = "missing_local"
            elif (state == "SUCCESS") != (status == RefundStatus.SUCCESS):
                problem = "status"
            else:
                problem = "amount"
            self._insert(ItemKind.REFUND_MISMATCH, ref, out_trade_no=otn, remote_fen=amount,
                         remote_status=state, local_fen=local_fen, local_status=status or "",
                         details={"problem": problem})

    def _missing_local(self, txn: dict) -> None:
        ref, otn, amount = txn["transaction_id"], txn["out_trade_no"], txn["amount"]["total"]
        result = credit_wechat_transaction(txn, mchid=self.mchid, appid=self.appid, source="reconciliation")
        resolved = result.outcome in (Outcome.APPLIED, Outcome.ALREADY_APPLIED)
        order = result.order
        self._insert(ItemKind.MISSING_LOCAL, ref, out_trade_no=otn, remote_fen=amount,
                     remote_status="SUCCESS", local_status=order.status if order else "",
                     details={"credit": result.outcome.value, "problems": result.problems},
                     resolved_at=utcnow() if resolved else None, resolved_by="system" if resolved else "",
                     note="credited by reconciliation" if resolved else "")
        raise_alert("reconciliation_missing_local",
                    f"对账发现本地缺少的微信收款 {otn}（{ref}）："
                    + ("已补记入账" if resolved else f"未能入账（{'; '.join(result.problems)}）"),
                    dedupe_key=f"recon_missing_local:{ref}",
                    community_id=order.community_id if order else None,
                    details={"bill_date": str(self.run.bill_date), "outcome": result.outcome.value})

    # ------------------------------------------------------------- our side
    def _ours(self, ours, listed_ours: int, start: dt.datetime, end: dt.datetime) -> dict:
        """Our payments and refunds of the day that the bill does not list; our totals."""
        S, P, PO, R = Stage, Payment, PaymentOrder, Refund

        def unlisted(kind, reference):
            return ~pw.fn.EXISTS(S.select(pw.SQL("1")).where((S.reference == reference) & (S.kind == kind)))

        count, total = P.select(pw.fn.COUNT(P.id), pw.fn.SUM(P.amount_fen)).where(ours).tuples().first()
        if count != listed_ours or self.listed_twice:
            query = (P.select(P.transaction_id, P.amount_fen, PO.status, PO.out_trade_no)
                     .join(PO, pw.JOIN.LEFT_OUTER, on=(P.order == PO.id))
                     .where(ours, unlisted(PAYMENT, P.transaction_id)).tuples())
            for txn, amount, status, otn in list(query):
                self._insert(ItemKind.MISSING_REMOTE, txn or f"order:{otn}", out_trade_no=otn or "",
                             local_fen=amount, local_status=status or "")
        refunds = ((R.status == RefundStatus.SUCCESS) & (R.succeeded_at >= start) & (R.succeeded_at < end)
                   & (P.channel == Channel.WECHAT))
        query = (R.select(R.out_refund_no, R.amount_fen, R.status).join(P, on=(R.payment == P.id))
                 .where(refunds, unlisted(REFUND, R.out_refund_no)).tuples())
        for number, amount, status in list(query):
            self._insert(ItemKind.REFUND_MISMATCH, number, local_fen=amount, local_status=status,
                         details={"problem": "missing_remote"})
        r_count, r_total = (R.select(pw.fn.COUNT(R.id), pw.fn.SUM(R.amount_fen))
                            .join(P, on=(R.payment == P.id)).where(refunds).tuples().first())
        return {"local_payments": count, "local_payment_fen": int(total or 0),
                "local_refunds": r_count, "local_refund_fen": int(r_total or 0)}

    # ---------------------------------------------------------------- items
    def _insert(self, kind: str, reference: str, **fields) -> None:
        inserted = (ReconciliationItem
                    .insert(run=self.run.id, kind=kind, reference=reference[:64], created_at=utcnow(),
                            **{"details": {}, **fields})
                    .on_conflict_ignore().as_rowcount().execute())
        if inserted:
            self.new_items[kind] += 1
