"""Daily reconciliation with WeChat Pay's trade bill (R12), and resolving its items.

``reconcile_date`` applies for the ``ALL`` bill of a Shanghai date (ready after
10:00 the next day, kept three months), downloads it gzipped with its SHA1
checked by the client, stream-parses it (``billfile``) and matches it against
our payments and refunds (``matching``).  The result
is one ``ReconciliationRun`` per date; running a date again refreshes its
figures and adds nothing already found.  Alerts: a bill whose detail rows do
not add up to its summary row, and any new difference.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import logging
from decimal import Decimal
from typing import IO, Callable

import peewee as pw

from payments import exceptions as wx
from server import audit
from server.alerts import Severity, raise_alert
from server.db import for_update, transaction
from server.errors import NotFound, ValidationError
from server.reconciliation.billfile import BillFormatError, BillReader, Totals
from server.reconciliation.matching import Matcher
from server.reconciliation.models import ReconciliationItem, ReconciliationRun, RunStatus
from server.timeutil import local_today, utcnow

log = logging.getLogger(__name__)
KEPT_DAYS = 90          # WeChat serves bills of the last three months only


def check_date(day: dt.date, today: dt.date) -> None:
    if day >= today:
        raise ValidationError(f"{day} 的对账单尚未生成（次日 10 点后）", code="BILL_NOT_READY")
    if day < today - dt.timedelta(days=KEPT_DAYS):
        raise ValidationError(f"{day} 超出微信支付对账单的三个月保存期", code="BILL_TOO_OLD")


def dates_to_reconcile(today: dt.date) -> list[dt.date]:
    """Every date from the day after the last completed run up to yesterday
    (only yesterday when nothing was reconciled yet), within the bill's lifetime."""
    last = (ReconciliationRun.select(ReconciliationRun.bill_date)
            .where(ReconciliationRun.status == RunStatus.DONE)
            .order_by(ReconciliationRun.bill_date.desc()).scalar())
    yesterday = today - dt.timedelta(days=1)
    start = yesterday if last is None else last + dt.timedelta(days=1)
    start = max(start, today - dt.timedelta(days=KEPT_DAYS))
    return [start + dt.timedelta(days=i) for i in range((yesterday - start).days + 1)]


def _start(day: dt.date) -> ReconciliationRun:
    run, _ = ReconciliationRun.get_or_create(bill_date=day)
    ReconciliationRun.update(status=RunStatus.RUNNING, attempts=ReconciliationRun.attempts + 1,
                             started_at=utcnow(), error="").where(ReconciliationRun.id == run.id).execute()
    return ReconciliationRun.get_by_id(run.id)


def _download(client, day: dt.date) -> bytes | None:
    """The bill's bytes, or None when WeChat has no bill because there was no trade."""
    try:
        info = client.trade_bill(day, "ALL", tar_type="GZIP")
    except wx.BillNotAvailable as exc:
        if (exc.code or "").replace("_", "") == "NOSTATEMENTEXIST":
            return None
        raise
    return client.download_bill(info["download_url"], info["hash_value"], gzip=True)


def reconcile_date(day: dt.date, client, *, today: dt.date | None = None) -> ReconciliationRun:
    """Download and reconcile the bill of ``day``."""
    check_date(day, today or local_today())
    run = _start(day)
    try:
        data = _download(client, day)
    except Exception as exc:
        _fail(run, exc)
        raise
    stream = io.BytesIO(data) if data is not None else None
    sha1 = hashlib.sha1(data).hexdigest() if data is not None else ""
    return reconcile_stream(run, stream, mchid=client.mchid, appid=client.appid, file_sha1=sha1)


def reconcile_file(day: dt.date, stream: IO[bytes] | None, *, mchid: str, appid: str) -> ReconciliationRun:
    """Reconcile a bill already at hand (a file, a test fixture, the benchmark)."""
    return reconcile_stream(_start(day), stream, mchid=mchid, appid=appid)


def _details(stream: IO[bytes]) -> Callable[[set], dict]:
    """Read the bill again for the few payments we lack: the fields the credit path needs."""
    def find(references: set) -> dict:
        stream.seek(0)
        return BillReader(stream).payment_fields(references, ("交易时间", "公众账号ID", "商户号", "货币种类"))
    return find


def reconcile_stream(run: ReconciliationRun, stream: IO[bytes] | None, *, mchid: str, appid: str,
                     file_sha1: str = "") -> ReconciliationRun:
    """Reconcile ``run``'s date against a seekable bill stream (None: WeChat has no bill)."""
    matcher = Matcher(run, mchid=mchid, appid=appid)
    reader = None
    try:
        if stream is not None:
            reader = BillReader(stream)
            matcher.feed(reader)
        local = matcher.compare(run.bill_date, _details(stream) if stream is not None else (lambda refs: {}))
    except Exception as exc:
        _fail(run, exc)
        raise
    totals = reader.totals if reader is not None else Totals()
    summary = reader.summary if reader is not None else None
    summary_ok = reader is None or reader.summary_agrees()
    open_items = (ReconciliationItem.select()
                  .where(ReconciliationItem.run == run.id, ReconciliationItem.resolved_at.is_null()).count())
    ReconciliationRun.update(
        status=RunStatus.DONE, finished_at=utcnow(), file_sha1=file_sha1, remote_rows=totals.rows,
        remote_payments=totals.payments, remote_payment_fen=totals.payment_fen,
        remote_refunds=totals.refunds, remote_refund_fen=totals.refund_rows_fen,
        remote_fee=str(Decimal(totals.fee_e5).scaleb(-5)), summary=summary or {}, summary_ok=summary_ok,
        differences=ReconciliationItem.select().where(ReconciliationItem.run == run.id).count(),
        **local).where(ReconciliationRun.id == run.id).execute()
    if not summary_ok:
        raise_alert("reconciliation_totals", f"{run.bill_date} 微信对账单明细合计与汇总行不符",
                    severity=Severity.CRITICAL, dedupe_key=f"recon_totals:{run.bill_date}",
                    details={"summary": summary, "detail_totals": dataclasses.asdict(totals)})
    if matcher.new_items:
        _alert_differences(run, open_items)
    log.info("reconciled %s: %d row(s), new differences %s, summary %s", run.bill_date, totals.rows,
             dict(matcher.new_items) or "none", "ok" if summary_ok else "MISMATCH")
    return ReconciliationRun.get_by_id(run.id)


def _alert_differences(run: ReconciliationRun, open_items) -> None:
    """One alert per community with open differences on this day (so that community's
    staff see it), and one without a community for differences we cannot place."""
    from server.reconciliation.models import KIND_NAMES
    from server.reconciliation.queries import item_community, _joined

    I = ReconciliationItem
    rows = (_joined(I.select(item_community().alias("community_id"), I.kind,
                             pw.fn.COUNT(I.id).alias("n")))
            .where(I.run == run.id, I.resolved_at.is_null())
            .group_by(item_community(), I.kind).tuples())
    by_community: dict = {}
    for community_id, kind, n in rows:
        by_community.setdefault(community_id, {})[kind] = n
    for community_id, kinds in by_community.items():
        text = "，".join(f"{KIND_NAMES.get(k, k)} {n} 笔" for k, n in sorted(kinds.items()))
        raise_alert("reconciliation_differences", f"{run.bill_date} 微信对账发现差异：{text}",
                    dedupe_key=f"recon_differences:{run.bill_date}:{community_id or '-'}",
                    community_id=community_id,
                    details={"bill_date": str(run.bill_date), "open": kinds,
                             "open_total": open_items})


def _fail(run: ReconciliationRun, exc: BaseException) -> None:
    if isinstance(exc, BillFormatError):
        message = f"微信对账单无法读取：{exc}"[:2000]
    else:
        message = f"{type(exc).__name__}: {exc}"[:2000]
    ReconciliationRun.update(status=RunStatus.FAILED, error=message, finished_at=utcnow()) \
        .where(ReconciliationRun.id == run.id).execute()
    raise_alert("reconciliation_failed", f"{run.bill_date} 对账失败：{message}", severity=Severity.CRITICAL,
                dedupe_key=f"recon_failed:{run.bill_date}", details={"bill_date": str(run.bill_date)})


def resolve_item(item_id: int, actor: audit.Actor, note: str) -> ReconciliationItem:
    """Staff close a difference with a note (idempotent: a resolved item stays as it was)."""
    note = (note or "").strip()
    if not note:
        raise ValidationError("请说明处理方式", details={"note": "必填"})
    with transaction():
        item = for_update(ReconciliationItem.select().where(ReconciliationItem.id == item_id)).first()
        if item is None:
            raise NotFound(f"对账差异 {item_id} 不存在")
        if item.resolved_at is not None:
            return item
        now = utcnow()
        ReconciliationItem.update(resolved_at=now, resolved_by=actor.id, note=note) \
            .where(ReconciliationItem.id == item.id).execute()
        from server.reconciliation.queries import community_of_item

        _, community_id = community_of_item(item.id)
        audit.record(actor, "reconciliation.resolve", "reconciliation_item", item.id,
                     before={"kind": item.kind, "reference": item.reference, "resolved_at": None},
                     after={"resolved_by": actor.id, "note": note, "resolved_at": now.isoformat()},
                     community_id=community_id)
    return ReconciliationItem.get_by_id(item_id)
