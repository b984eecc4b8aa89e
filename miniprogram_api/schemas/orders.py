"""Orders (paying with WeChat Pay), the payment history and receipts."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from miniprogram_api.schemas.bills import RefundOut
from miniprogram_api.schemas.common import (CommunityRef, FeeItemRef, Id, MoneyOut, QueryArgs,
                                            RequestBody, ResponseModel, Timestamp)

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
MAX_BILLS = 60                    # payments.orders.MAX_BILLS_PER_ORDER
OrderStatus = Literal["created", "paying", "unknown", "paid", "closed", "partially_refunded",
                      "refunded"]
Channel = Literal["wechat", "cash", "bank_transfer", "pos"]

IDEMPOTENCY_KEY = r"^[!-~]{1,64}$"
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY, "minLength": 1, "maxLength": 64},
    "description": "Any unique string (a UUID) per payment attempt, 1–64 printable ASCII "
                   "characters.  Sending it again with the same bills returns the same order "
                   "(200) instead of a new one; with other bills it is refused (409 "
                   "IDEMPOTENCY_KEY_REUSED).  Keys are kept per owner.",
}


def _unique(ids: list[int]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise ValueError("每张账单只能出现一次")
    return ids


class OrderBody(RequestBody):
    bill_ids: Annotated[list[Id], AfterValidator(_unique)] = Field(
        min_length=1, max_length=MAX_BILLS, json_schema_extra={"uniqueItems": True},
        description="the bills to pay: unpaid bills of my houses, one community per order")


class OrderQuery(QueryArgs):
    status: Optional[Literal["open", "paid", "closed"]] = Field(
        None, description="`open` = created, paying or unknown; `paid` includes refunded")
    limit: int = Field(20, ge=1, le=50)


class HouseLabel(ResponseModel):
    id: int
    label: str = Field(description="building-unit-room")


class OrderLine(ResponseModel):
    bill_id: int
    house: HouseLabel
    fee_item: FeeItemRef
    period: str = Field(pattern=PERIOD)
    amount: MoneyOut = Field(validation_alias="amount_fen", description="asked for this bill")


class OrderOut(ResponseModel):
    out_trade_no: str = Field(description="our order number, also shown by WeChat")
    status: OrderStatus = Field(description="created → paying → paid; closed when cancelled or "
                                            "expired; unknown until WeChat confirms")
    total: MoneyOut = Field(validation_alias="total_fen")
    description: str
    created_at: Timestamp
    expires_at: Optional[Timestamp] = Field(description="pay before this; afterwards order again")
    paid_at: Optional[Timestamp]
    closed_at: Optional[Timestamp]
    receipt_no: Optional[str] = Field(description="once paid: GET /receipts/{receipt_no}")
    lines: list[OrderLine]


class RequestPayment(ResponseModel):
    """Pass these as they are to ``wx.requestPayment`` (signed with the merchant key)."""

    timeStamp: str  # noqa: N815 - WeChat's names
    nonceStr: str  # noqa: N815
    package: str = Field(pattern=r"^prepay_id=\S+$")
    signType: Literal["RSA"]  # noqa: N815
    paySign: str  # noqa: N815


class PlacedOrderOut(OrderOut):
    payment: Optional[RequestPayment] = Field(
        description="wx.requestPayment parameters; null when the order can no longer be paid")


class OrdersOut(ResponseModel):
    orders: list[OrderOut] = Field(description="newest first")


class PaymentsQuery(QueryArgs):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=100_000)


class AllocationOut(OrderLine):
    amount: MoneyOut = Field(validation_alias="amount_fen", description="applied to this bill")


class RefundLine(RefundOut):
    """A refund with the bill it gave money back on."""

    bill_id: int


class PaymentRecord(ResponseModel):
    id: int
    receipt_no: Optional[str]
    channel: Channel
    channel_label: str = Field(description="微信支付, 现金, 银行转账, POS刷卡")
    amount: MoneyOut = Field(validation_alias="amount_fen", description="money received")
    refunded: MoneyOut = Field(validation_alias="refunded_fen", description="refunds completed")
    status: Literal["paid", "partially_refunded", "refunded"]
    received_at: Timestamp
    out_trade_no: Optional[str] = Field(description="the WeChat Pay order, if paid online")
    community: CommunityRef
    allocations: list[AllocationOut] = Field(description="bills of my houses it paid")
    refunds: list[RefundLine]


class PaymentsOut(ResponseModel):
    payments: list[PaymentRecord] = Field(description="newest first")
    has_more: bool = Field(description="another page exists (offset + limit)")


class ReceiptQuery(QueryArgs):
    format: Optional[Literal["json", "html"]] = Field(
        None, description="`html`: the printable page (so does `Accept: text/html`)")


class ReceiptPage(PaymentRecord):
    """What a printed receipt shows."""

    houses: list[HouseLabel]
    amount_in_words: str = Field(description="人民币大写, e.g. 壹佰伍拾伍元整")
    received_at_local: str = Field(description="payment time in Asia/Shanghai, YYYY-MM-DD HH:MM:SS")
    transaction_id: Optional[str] = Field(description="WeChat's transaction id, partly masked")
    payer_name: Optional[str] = Field(description="who paid at the counter (offline payments)")
    other: MoneyOut = Field(validation_alias="other_fen",
                            description="part of the amount not listed above: bills of houses "
                                        "not mine, or money awaiting a refund or re-allocation")


class ReceiptOut(ReceiptPage):
    print_url: str = Field(
        description="the printable page for a <web-view>: a signed link that needs no bearer "
                    "token, bound to this owner and session, valid until `print_url_expires_at` "
                    "(then 410: ask for the receipt again); 403 when altered or logged out")
    print_url_expires_at: Timestamp
