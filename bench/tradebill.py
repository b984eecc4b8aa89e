"""A WeChat Pay ``ALL`` trade bill of any size, written as a stream, with the
matching local orders, payments and refunds (for bench/reconcile.py).

The format is the sandbox's (payments/sandbox/bills.py: the column names,
yuan strings, BOM, CRLF, back-ticks, summary row); rows are generated one at a
time so a million-row file costs no memory.  Every ``REFUND_EVERY``-th row is
a refund of the payment ``REFUND_EVERY`` rows earlier.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterator

from payments.sandbox.bills import ALL_COLUMNS, SUMMARY_COLUMNS, fee_fen, yuan

CST = dt.timezone(dt.timedelta(hours=8))
MCHID, APPID = "1900000109", "wxd0000000000sandbox"
REFUND_EVERY = 20


def payment_amount(i: int) -> int:
    return 100 + (i * 7919) % 200_000


def refund_amount(i: int) -> int:
    return max(1, payment_amount(i) // 3)


def ids(i: int) -> tuple[str, str, str]:
    """(transaction_id, out_trade_no, out_refund_no) of row ``i``."""
    return f"4200{i:024d}", f"BENCH{i:012d}", f"RFBENCH{i:012d}"


def rows(day: dt.date, n: int) -> Iterator[tuple[int, bool, dict]]:
    """``(index, is_refund, fields)`` for each detail row, in time order."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=CST)
    for i in range(n):
        when = (start + dt.timedelta(seconds=i * 86399 // max(n, 1))).strftime("%Y-%m-%d %H:%M:%S")
        refund = i % REFUND_EVERY == REFUND_EVERY - 1
        paid_i = i - (REFUND_EVERY - 1) if refund else i
        txn, otn, _ = ids(paid_i)
        total = payment_amount(paid_i)
        common = {"交易时间": when, "公众账号ID": APPID, "商户号": MCHID, "特约商户号": "0", "设备号": "",
                  "微信订单号": txn, "商户订单号": otn, "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                  "交易类型": "JSAPI", "付款银行": "OTHERS", "货币种类": "CNY", "代金券金额": "0.00",
                  "充值券退款金额": "0.00", "商品名称": "物业缴费-物业费", "商户数据包": "", "费率": "0.60%",
                  "订单金额": yuan(total), "费率备注": ""}
        if refund:
            amount = refund_amount(paid_i)
            fee = -fee_fen(amount)
            fields = {**common, "交易状态": "REFUND", "应结订单金额": "0.00", "退款金额": yuan(amount),
                      "申请退款金额": yuan(amount), "微信退款单号": f"50{i:027d}", "商户退款单号": ids(paid_i)[2],
                      "退款类型": "ORIGINAL", "退款状态": "SUCCESS"}
        else:
            fee = fee_fen(total)
            fields = {**common, "交易状态": "SUCCESS", "应结订单金额": yuan(total), "退款金额": "0.00",
                      "申请退款金额": "0.00", "微信退款单号": "0", "商户退款单号": "0", "退款类型": "",
                      "退款状态": ""}
        fields["手续费"] = yuan(fee, "0.00001")
        fields["_fee"] = fee
        yield i, refund, fields


def write(path, day: dt.date, n: int) -> None:
    settle = refunds = 0
    fees = Decimal(0)
    with open(path, "wb") as out:
        out.write("\ufeff".encode())
        out.write((",".join(ALL_COLUMNS) + "\r\n").encode())
        for _, refund, fields in rows(day, n):
            out.write((",".join("`" + fields[c] for c in ALL_COLUMNS) + "\r\n").encode())
            fees += fields["_fee"]
            if refund:
                refunds += int(Decimal(fields["退款金额"]) * 100)
            else:
                settle += int(Decimal(fields["应结订单金额"]) * 100)
        out.write((",".join(SUMMARY_COLUMNS) + "\r\n").encode())
        totals = (f"{n}.0", yuan(settle), yuan(refunds), "0.00", yuan(fees, "0.00001"), yuan(settle),
                  yuan(refunds))
        out.write((",".join("`" + v for v in totals) + "\r\n").encode())
