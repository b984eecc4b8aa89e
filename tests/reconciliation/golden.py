"""Golden trade bills: WeChat's side written by the sandbox's own bill renderer
(payments/sandbox/bills.py, the exact file format), our side made through the
real services (orders created, payments credited by the exactly-once path)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import types

from payments.models import PaymentOrder
from payments.orders import create_order
from payments.sandbox.bills import render_bill
from payments.sandbox.ledger import Order as RemoteOrder
from payments.sandbox.ledger import Refund as RemoteRefund
from payments.settlement import credit_wechat_transaction
from server.ledger.models import Payment, Refund, RefundStatus
from server.property.models import Binding, Owner
from tests import factories as f

MCHID, APPID = "1900000109", "wxd0000000000sandbox"
CST = dt.timezone(dt.timedelta(hours=8))
_seq = itertools.count(1)


@dataclasses.dataclass
class Paid:
    order: PaymentOrder
    transaction_id: str
    remote: RemoteOrder | None


class GoldenBill:
    def __init__(self, day: dt.date):
        self.day = day
        self.ledger = types.SimpleNamespace(orders={}, refunds={})
        comm = f.community()
        self.house = f.house(comm)
        self.item = f.fee_item(comm, "WYF")
        self.owner = Owner.create(openid=f"o{next(_seq):027d}")
        Binding.create(owner=self.owner, house=self.house, verified_by="staff")

    def at(self, hour: int, minute: int = 0, day: dt.date | None = None) -> dt.datetime:
        return dt.datetime.combine(day or self.day, dt.time(hour, minute), tzinfo=CST)

    def order(self, amount_fen: int) -> PaymentOrder:
        bill = f.bill(self.house, self.item, period=f"{2000 + next(_seq) % 900}-01", amount_fen=amount_fen)
        order, _ = create_order(self.owner.id, [bill.id])
        return order

    def paid(self, amount_fen: int, when: dt.datetime, *, local: bool = True, remote: bool = True,
             remote_fen: int | None = None) -> Paid:
        """An order paid at WeChat at ``when`` (listed in the bill with ``remote_fen``),
        credited here unless ``local`` is False."""
        order = self.order(amount_fen)
        txn_id = f"4200{next(_seq):024d}"
        if local:
            result = credit_wechat_transaction(
                {"mchid": MCHID, "appid": APPID, "out_trade_no": order.out_trade_no, "transaction_id": txn_id,
                 "trade_state": "SUCCESS", "success_time": when.isoformat(),
                 "amount": {"total": amount_fen, "currency": "CNY"}},
                mchid=MCHID, appid=APPID, source="test")
            assert result.outcome.value == "applied", result
        remote_order = None
        if remote:
            request = {"appid": APPID, "mchid": MCHID, "description": "物业缴费-物业费",
                       "amount": {"total": remote_fen if remote_fen is not None else amount_fen},
                       "payer": {"openid": self.owner.openid}}
            remote_order = RemoteOrder(order.out_trade_no, request, "wx" + txn_id[4:], when.timestamp() - 60,
                                       "SUCCESS", txn_id, when.timestamp(), "OTHERS")
            self.ledger.orders[order.out_trade_no] = remote_order
        return Paid(PaymentOrder.get_by_id(order.id), txn_id, remote_order)

    def refund(self, paid: Paid, amount_fen: int, when: dt.datetime, *, local: bool = True,
               remote: bool = True, remote_fen: int | None = None) -> str:
        number = f"RF{next(_seq):010d}"
        if local:
            payment = Payment.get(Payment.order == paid.order.id)
            Refund.create(payment=payment, bill=payment.allocations.get().bill, out_refund_no=number,
                          amount_fen=amount_fen, reason="测试", status=RefundStatus.SUCCESS,
                          succeeded_at=when.astimezone(dt.timezone.utc))
        if remote:
            amount = remote_fen if remote_fen is not None else amount_fen
            self.ledger.refunds[number] = RemoteRefund(
                number, f"50{next(_seq):027d}", paid.remote, amount, {"out_refund_no": number},
                when.timestamp() - 30, "SUCCESS", when.timestamp())
        return number

    def render(self) -> bytes:
        return render_bill(self.ledger, self.day, "ALL")

    def stream(self, edit=None) -> io.BytesIO:
        data = self.render()
        return io.BytesIO(edit(data) if edit else data)


def replace_in_row(data: bytes, key: str, old: str, new: str) -> bytes:
    """Change one field of the bill line that mentions ``key`` (a transaction id)."""
    lines = data.split(b"\r\n")
    for i, line in enumerate(lines):
        if key.encode() in line:
            assert f",`{old},".encode() in line
            lines[i] = line.replace(f",`{old},".encode(), f",`{new},".encode(), 1)
            return b"\r\n".join(lines)
    raise AssertionError(f"{key} not in the bill")


def duplicate_row(data: bytes, key: str) -> bytes:
    lines = data.split(b"\r\n")
    at = next(i for i, line in enumerate(lines) if key.encode() in line)
    return b"\r\n".join(lines[:at + 1] + [lines[at]] + lines[at + 1:])
