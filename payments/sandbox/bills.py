"""Trade bill (对账单) apply + download in WeChat's file format (wechat-pay-v3.md §7).

UTF-8 with BOM, CRLF lines, a header row without back-ticks, every data field
prefixed with a back-tick, amounts in yuan (``Decimal``, 2 places; fee 5 places,
rate ``0.60%``), then the summary header and one summary row.  Columns:
``ALL`` 27, ``SUCCESS`` 20, ``REFUND`` = ALL plus 退款申请时间/退款成功时间.

Sandbox choices where WeChat's files are not fully specified: a bill for day D
lists payments whose ``success_time`` and refunds whose refund success time fall
on D (Asia/Shanghai); refund rows carry the order amount in 订单金额 and 0.00 in
应结订单金额; free-text commas become "，" (WeChat does not quote fields).
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re
import secrets
from decimal import ROUND_HALF_UP, Decimal

from flask import Blueprint, Response, current_app, request

from payments.sandbox.ledger import CST, SandboxApiError
from payments.sandbox.signing import json_response

bp = Blueprint("sandbox_bills", __name__)

FEE_RATE = Decimal("0.006")
DOWNLOAD_TTL = 300
ALL_COLUMNS = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
               "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,"
               "退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注").split(",")
SUCCESS_COLUMNS = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
                   "付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注").split(",")
REFUND_COLUMNS = ALL_COLUMNS[:14] + ["退款申请时间", "退款成功时间"] + ALL_COLUMNS[14:]
SUMMARY_COLUMNS = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额".split(",")


def yuan(fen: int | Decimal, places: str = "0.01") -> str:
    """Integer fen → yuan string with ``Decimal`` (never float)."""
    return str((Decimal(fen) / 100).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def fee_fen(fen: int) -> Decimal:
    return (Decimal(fen) * FEE_RATE).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def _text(value: str) -> str:
    return (value or "").replace(",", "，").replace("\r", " ").replace("\n", " ")


def _cst(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, CST)


def _rows(ledger, day: dt.date) -> list[dict]:
    rows = []
    for order in ledger.orders.values():
        if order.success_time is None or _cst(order.success_time).date() != day:
            continue
        fee = fee_fen(order.total)
        rows.append({
            "交易时间": _cst(order.success_time).strftime("%Y-%m-%d %H:%M:%S"), "交易状态": "SUCCESS",
            "应结订单金额": yuan(order.total), "退款金额": "0.00", "申请退款金额": "0.00",
            "微信退款单号": "0", "商户退款单号": "0", "退款类型": "", "退款状态": "",
            "手续费": yuan(fee, "0.00001"), "_fee": fee, "_settle": order.total, "_refund": 0,
            "退款申请时间": "", "退款成功时间": "", **_order_fields(order)})
    for refund in ledger.refunds.values():
        if refund.success_time is None or _cst(refund.success_time).date() != day:
            continue
        fee = -fee_fen(refund.amount)
        rows.append({
            "交易时间": _cst(refund.success_time).strftime("%Y-%m-%d %H:%M:%S"), "交易状态": "REFUND",
            "应结订单金额": "0.00", "退款金额": yuan(refund.amount), "申请退款金额": yuan(refund.amount),
            "微信退款单号": refund.refund_id, "商户退款单号": refund.out_refund_no,
            "退款类型": "ORIGINAL", "退款状态": "SUCCESS", "手续费": yuan(fee, "0.00001"),
            "_fee": fee, "_settle": 0, "_refund": refund.amount,
            "退款申请时间": _cst(refund.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            "退款成功时间": _cst(refund.success_time).strftime("%Y-%m-%d %H:%M:%S"),
            **_order_fields(refund.order)})
    return sorted(rows, key=lambda r: r["交易时间"])


def _order_fields(order) -> dict:
    req = order.request
    return {"公众账号ID": req["appid"], "商户号": req["mchid"], "特约商户号": "0", "设备号": "",
            "微信订单号": order.transaction_id, "商户订单号": order.out_trade_no,
            "用户标识": order.openid, "交易类型": "JSAPI", "付款银行": order.bank_type,
            "货币种类": "CNY", "代金券金额": "0.00", "充值券退款金额": "0.00",
            "商品名称": _text(req["description"]), "商户数据包": _text(req.get("attach", "")),
            "费率": "0.60%", "订单金额": yuan(order.total), "费率备注": ""}


def render_bill(ledger, day: dt.date, bill_type: str = "ALL") -> bytes:
    """The bill file of ``day`` as WeChat serves it, uncompressed."""
    rows = _rows(ledger, day)
    if bill_type == "SUCCESS":
        rows, columns = [r for r in rows if r["交易状态"] == "SUCCESS"], SUCCESS_COLUMNS
    elif bill_type == "REFUND":
        rows, columns = [r for r in rows if r["交易状态"] == "REFUND"], REFUND_COLUMNS
    else:
        columns = ALL_COLUMNS
    lines = [",".join(columns)]
    lines += [",".join("`" + str(r[c]) for c in columns) for r in rows]
    settle = sum(r["_settle"] for r in rows)
    refunds = sum(r["_refund"] for r in rows)
    fees = sum((r["_fee"] for r in rows), Decimal(0))
    lines.append(",".join(SUMMARY_COLUMNS))
    lines.append(",".join("`" + v for v in (
        str(len(rows)), yuan(settle), yuan(refunds), "0.00", yuan(fees, "0.00001"), yuan(settle),
        yuan(refunds))))
    return "\ufeff".encode("utf-8") + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _state():
    return current_app.config["SANDBOX_STATE"]


@bp.get("/v3/bill/tradebill")
def tradebill():
    state = _state()
    raw_date = request.args.get("bill_date", "")
    bill_type = request.args.get("bill_type", "ALL")
    tar_type = request.args.get("tar_type")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_date):
        raise SandboxApiError(400, "PARAM_ERROR", "bill_date格式错误，应为yyyy-MM-DD")
    if bill_type not in ("ALL", "SUCCESS", "REFUND") or tar_type not in (None, "GZIP"):
        raise SandboxApiError(400, "PARAM_ERROR", "bill_type或tar_type取值错误")
    day = dt.date.fromisoformat(raw_date)
    now = _cst(state.now())
    ready_at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(10), CST)
    if not state.bills_available_immediately:
        if day >= now.date():
            raise SandboxApiError(400, "INVALID_REQUEST", "账单日期不能是今天或未来")
        if now < ready_at:
            raise SandboxApiError(400, "STATEMENT_CREATING", "账单生成中，请在次日10点后下载")
    if day < now.date() - dt.timedelta(days=92):
        raise SandboxApiError(400, "INVALID_REQUEST", "只能下载三个月以内的账单")
    with state.lock:
        plain = render_bill(state.ledger, day, bill_type)
    if plain.count(b"\r\n") <= 3:        # header + summary only: no trade that day
        raise SandboxApiError(400, "NO_STATEMENT_EXIST", "账单文件不存在")
    token = secrets.token_urlsafe(24)
    with state.lock:
        state.bill_files[token] = {"plain": plain, "gzip": tar_type == "GZIP",
                                   "expires": state.now() + DOWNLOAD_TTL}
    return json_response({"hash_type": "SHA1", "hash_value": hashlib.sha1(plain).hexdigest(),
                          "download_url": f"{request.url_root}v3/billdownload/file?token={token}"})


@bp.get("/v3/billdownload/file")
def download():
    """The bill stream; not signed (§7), still needs our signed ``Authorization``."""
    state = _state()
    with state.lock:
        entry = state.bill_files.get(request.args.get("token", ""))
    if entry is None or entry["expires"] < state.now():
        raise SandboxApiError(400, "INVALID_REQUEST", "下载链接已过期或无效")
    data = entry["plain"]
    if state.take("corrupt_bill_download"):
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
    if entry["gzip"]:
        data = gzip.compress(data, mtime=0)
    mimetype = "application/x-gzip" if entry["gzip"] else "text/plain;charset=utf-8"
    return Response(data, status=200, content_type=mimetype)
