"""``wuyepay offline …``, ``wuyepay refund …`` and ``wuyepay orders sync``: the
cashier's and the manager's money commands, until the admin pages exist."""
from __future__ import annotations


import click

from payments import offline, refunds
from payments.gateway import client_for
from payments.models import Channel, PaymentOrder
from payments.service import sync_order
from server.audit import Actor
from server.clitools import with_database
from server.errors import DomainError
from server.ledger.models import Refund
from server.money import format_yuan
from server.property.models import Community
from server.staff.models import StaffUser
from server.timeutil import local_today


def register(group: click.Group) -> None:
    group.add_command(offline_group)
    group.add_command(refund_group)
    group.add_command(orders_group)


def _staff(username: str) -> Actor:
    user = StaffUser.get_or_none(StaffUser.username == username, StaffUser.active == True)  # noqa: E712
    if user is None:
        raise click.ClickException(f"没有在职的工作人员“{username}”")
    return Actor.staff(user)


def _community(code: str) -> Community:
    community = Community.get_or_none((Community.code == code) | (Community.name == code))
    if community is None:
        raise click.ClickException(f"没有编码或名称为“{code}”的小区")
    return community


def _allocation(text: str) -> tuple[int, int]:
    try:
        bill_id, fen = text.split(":")
        return int(bill_id), int(fen)
    except ValueError:
        raise click.BadParameter(f"“{text}”格式不对，应写作 账单号:金额（分），如 4062:12834") from None


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DomainError as exc:
        detail = f" {exc.details}" if exc.details else ""
        raise click.ClickException(f"{exc.code}: {exc.message}{detail}") from None


@click.group("offline")
def offline_group():
    """Cash, bank transfer and POS receipts, and the daily cash close."""


@offline_group.command("record")
@click.option("--community", required=True)
@click.option("--bill", "bills", multiple=True, required=True, help="BILL_ID:FEN (repeatable)")
@click.option("--channel", type=click.Choice(Channel.OFFLINE), required=True)
@click.option("--voucher", required=True, help="receipt book / transfer / POS voucher number")
@click.option("--payer", default="")
@click.option("--operator", required=True, help="the cashier's username")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None)
@with_database
def offline_record(community, bills, channel, voucher, payer, operator, day, config):
    """Record money taken at the counter."""
    order = _run(offline.record_offline_payment, _community(community).id,
                 [_allocation(b) for b in bills], channel, voucher, payer, _staff(operator),
                 approval_threshold_fen=config.OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN,
                 received_on=day.date() if day else None)
    state = "booked" if order.status == "paid" else "waiting for a second staff member's approval"
    click.echo(f"offline payment #{order.id} {format_yuan(order.total_fen)} 元: {state}")


@offline_group.command("approve")
@click.argument("order_id", type=int)
@click.option("--staff", required=True)
@with_database
def offline_approve(order_id, staff, config):
    order = _run(offline.approve_offline_payment, order_id, _staff(staff))
    click.echo(f"offline payment #{order.id}: {order.status}")


@offline_group.command("reject")
@click.argument("order_id", type=int)
@click.option("--staff", required=True)
@click.option("--note", default="")
@with_database
def offline_reject(order_id, staff, note, config):
    order = _run(offline.reject_offline_payment, order_id, _staff(staff), note)
    click.echo(f"offline payment #{order.id}: {order.status}")


@offline_group.command("close-day")
@click.option("--operator", required=True)
@click.option("--community", required=True)
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None)
@with_database
def offline_close_day(operator, community, day, config):
    """Total a cashier's day by channel and lock it."""
    actor = _staff(operator)
    when = day.date() if day else local_today()
    close = _run(offline.close_cash_day, actor.staff_id, _community(community).id, when, actor)
    for channel, fen in sorted(close.totals.items()):
        click.echo(f"{channel:14} {format_yuan(fen):>12}")
    click.echo(f"{'total':14} {format_yuan(close.total_fen):>12}  ({close.count} receipts, day locked)")


@click.group("refund")
def refund_group():
    """Refunds: request, then a second staff member approves."""


@refund_group.command("request")
@click.option("--payment", "payment_id", type=int, required=True)
@click.option("--bill", "bill_id", type=int, required=True)
@click.option("--amount", "amount_fen", type=int, required=True, help="fen")
@click.option("--reason", required=True)
@click.option("--staff", required=True)
@click.option("--key", "request_key", required=True, help="a unique token for this request (retries reuse it)")
@with_database
def refund_request(payment_id, bill_id, amount_fen, reason, staff, request_key, config):
    refund = _run(refunds.request_refund, payment_id, bill_id, amount_fen, reason, _staff(staff),
                  request_key=request_key)
    click.echo(f"refund #{refund.id} {refund.out_refund_no} {format_yuan(refund.amount_fen)} 元: {refund.status}")


@refund_group.command("approve")
@click.argument("refund_id", type=int)
@click.option("--staff", required=True)
@with_database
def refund_approve(refund_id, staff, config):
    refund = Refund.get_or_none(Refund.id == refund_id)
    if refund is None:
        raise click.ClickException(f"没有退款 #{refund_id}")
    # Only a WeChat payment is refunded through WeChat; counter payments are paid out in person.
    client = client_for(config) if refund.payment.channel == Channel.WECHAT else None
    refund = _run(refunds.approve_refund, refund_id, _staff(staff), client)
    click.echo(f"refund #{refund.id}: {refund.status}")


@click.group("orders")
def orders_group():
    """WeChat orders."""


@orders_group.command("sync")
@click.argument("out_trade_no")
@with_database
def orders_sync(out_trade_no, config):
    """Ask WeChat about an order now and apply what it says."""
    order = PaymentOrder.get_or_none(PaymentOrder.out_trade_no == out_trade_no)
    if order is None:
        raise click.ClickException(f"没有订单 {out_trade_no}")
    order = sync_order(order, client_for(config), source="cli")
    click.echo(f"{order.out_trade_no}: {order.status}")
