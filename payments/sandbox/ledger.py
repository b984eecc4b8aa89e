"""The sandbox's orders and refunds: what WeChat Pay remembers (wechat-pay-v3.md §4, §5, §6).

Plain Python, called by the HTTP layer and directly by tests.  Business errors
raise :class:`SandboxApiError` with WeChat's HTTP status, code and message.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from zoneinfo import ZoneInfo

CST = ZoneInfo("Asia/Shanghai")
PREPAY_TTL = 2 * 3600            # "prepay_id只有两小时的有效期" (§5)
STATE_DESC = {
    "NOTPAY": "订单未支付", "USERPAYING": "用户支付中", "SUCCESS": "支付成功",
    "CLOSED": "订单已关闭", "PAYERROR": "支付失败，请重新下单支付", "REFUND": "订单发生过退款",
}


class SandboxApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: dict | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.detail = status, code, message, detail

    def body(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


class PayFailed(Exception):
    """The simulated payer could not pay (closed, already paid, expired, unknown)."""


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, CST).replace(microsecond=0).isoformat()


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


@dataclasses.dataclass
class Order:
    out_trade_no: str
    request: dict
    prepay_id: str
    created_at: float
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: float | None = None
    bank_type: str = ""

    @property
    def total(self) -> int:
        return self.request["amount"]["total"]

    @property
    def openid(self) -> str:
        return self.request["payer"]["openid"]


@dataclasses.dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    order: Order
    amount: int
    request: dict
    created_at: float
    status: str = "PROCESSING"
    success_time: float | None = None


class Ledger:
    def __init__(self, state):
        self.state = state
        self.orders: dict[str, Order] = {}
        self.by_prepay: dict[str, Order] = {}
        self.refunds: dict[str, Refund] = {}

    # ------------------------------------------------------------ orders
    def prepay(self, body: dict) -> Order:
        """Same ``out_trade_no`` + same parameters → same order (and prepay_id)."""
        with self.state.lock:
            order = self.orders.get(body["out_trade_no"])
            if order is not None:
                if order.trade_state == "CLOSED":
                    raise SandboxApiError(400, "ORDER_CLOSED", "订单已关闭")
                if order.trade_state in ("SUCCESS", "REFUND"):
                    raise SandboxApiError(400, "ORDERPAID", "该订单已支付")
                if order.request != body:
                    raise SandboxApiError(403, "OUT_TRADE_NO_USED", "商户订单号重复")
                return order
            now = self.state.now()
            prepay_id = "wx" + dt.datetime.fromtimestamp(now, CST).strftime("%d%H%M%S") + \
                secrets.token_hex(13)
            order = Order(body["out_trade_no"], body, prepay_id, now)
            self.orders[order.out_trade_no] = order
            self.by_prepay[prepay_id] = order
            return order

    def get(self, out_trade_no: str) -> Order:
        with self.state.lock:
            order = self.orders.get(out_trade_no)
        if order is None:
            raise SandboxApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def close(self, out_trade_no: str) -> None:
        with self.state.lock:
            order = self.get(out_trade_no)
            if order.trade_state in ("SUCCESS", "REFUND"):
                # v2 closeorder's ORDERPAID; after any close error the merchant queries (§6).
                raise SandboxApiError(400, "ORDERPAID", "订单已支付，不能发起关单")
            order.trade_state = "CLOSED"

    def pay(self, prepay_id: str, outcome: str = "success", force: bool = False) -> Order:
        """A payer confirms (or fails) a payment; success sends TRANSACTION.SUCCESS.

        ``outcome``: ``success``, ``payerror``, ``insufficient_balance`` (nothing changes,
        like a payer whose balance is short), ``userpaying``.  ``force`` lets a closed or
        expired order be paid, to simulate a payment racing our close (R6).
        """
        with self.state.lock:
            order = self.by_prepay.get(prepay_id) or self.orders.get(prepay_id)
            if order is None:
                raise PayFailed("unknown prepay_id")
            now = self.state.now()
            if order.trade_state in ("SUCCESS", "REFUND"):
                raise PayFailed("该订单已支付")
            if not force:
                if order.trade_state == "CLOSED":
                    raise PayFailed("订单已关闭")
                expire = order.request.get("time_expire")
                if expire and dt.datetime.fromisoformat(expire).timestamp() < now:
                    raise PayFailed("订单已过期")
                if now - order.created_at > PREPAY_TTL:
                    raise PayFailed("prepay_id 已失效")
            if outcome == "insufficient_balance":
                raise PayFailed("余额不足")
            if outcome == "payerror":
                order.trade_state = "PAYERROR"
                return order
            if outcome == "userpaying":
                order.trade_state = "USERPAYING"
                return order
            if outcome != "success":
                raise PayFailed(f"unknown outcome {outcome!r}")
            order.trade_state, order.success_time = "SUCCESS", now
            order.transaction_id, order.bank_type = "4200" + _digits(24), "OTHERS"
            plaintext = self.transaction(order)
        if self.state.take("wrong_amount"):
            plaintext["amount"]["total"] += 1
            plaintext["amount"]["payer_total"] += 1
        self.state.notifier.notify(order.request["notify_url"], "TRANSACTION.SUCCESS", "支付成功",
                                   "transaction", plaintext)
        return order

    def transaction(self, order: Order) -> dict:
        """The Transaction object (§4): query answer and callback plaintext."""
        req = order.request
        data = {"appid": req["appid"], "mchid": req["mchid"], "out_trade_no": order.out_trade_no,
                "trade_state": order.trade_state, "trade_state_desc": STATE_DESC[order.trade_state],
                "amount": {"total": order.total, "currency": "CNY", "payer_currency": "CNY"},
                "promotion_detail": [], "scene_info": {"device_id": ""}}
        if order.transaction_id:
            data.update({"transaction_id": order.transaction_id, "trade_type": "JSAPI",
                         "bank_type": order.bank_type, "success_time": rfc3339(order.success_time),
                         "attach": req.get("attach", ""), "payer": {"openid": order.openid}})
            data["amount"]["payer_total"] = order.total
        return data

    # ----------------------------------------------------------- refunds
    def refund(self, body: dict) -> Refund:
        """Deterministic per ``out_refund_no`` ("同一退款单号多次请求只退一笔")."""
        with self.state.lock:
            existing = self.refunds.get(body["out_refund_no"])
            if existing is not None:
                if existing.request != body:
                    raise SandboxApiError(400, "INVALID_REQUEST", "同一退款单号的退款参数与之前不一致")
                return existing
            order = self._refundable_order(body)
            amount = body["amount"]
            if amount["total"] != order.total:
                raise SandboxApiError(400, "PARAM_ERROR", "订单金额与原订单金额不一致")
            refunded = sum(r.amount for r in self.refunds.values()
                           if r.order is order and r.status in ("PROCESSING", "SUCCESS"))
            if amount["refund"] > order.total - refunded:
                raise SandboxApiError(403, "NOT_ENOUGH", "可退金额不足")
            digest = int(hashlib.sha256(body["out_refund_no"].encode()).hexdigest(), 16)
            refund = Refund(body["out_refund_no"], "50" + str(digest % 10 ** 27).zfill(27), order,
                            amount["refund"], body, self.state.now())
            self.refunds[refund.out_refund_no] = refund
            order.trade_state = "REFUND"
        if self.state.refund_delay >= 0:
            self.state.notifier.call_later(self.state.refund_delay, self.settle_refund,
                                           refund.out_refund_no, self.state.refund_outcome)
        return refund

    def _refundable_order(self, body: dict) -> Order:
        if body.get("transaction_id"):
            order = next((o for o in self.orders.values()
                          if o.transaction_id == body["transaction_id"]), None)
        else:
            order = self.orders.get(body.get("out_trade_no", ""))
        if order is None:
            raise SandboxApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if order.trade_state not in ("SUCCESS", "REFUND"):
            raise SandboxApiError(400, "INVALID_REQUEST", "订单未支付，不能退款")
        return order

    def get_refund(self, out_refund_no: str) -> Refund:
        with self.state.lock:
            refund = self.refunds.get(out_refund_no)
        if refund is None:
            raise SandboxApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return refund

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> Refund:
        """Finish a PROCESSING refund as SUCCESS/ABNORMAL/CLOSED and send REFUND.<status>."""
        if status not in ("SUCCESS", "ABNORMAL", "CLOSED"):
            raise ValueError("refund status must be SUCCESS, ABNORMAL or CLOSED")
        with self.state.lock:
            refund = self.get_refund(out_refund_no)
            if refund.status != "PROCESSING":
                return refund
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = self.state.now()
            plaintext = self.refund_notification(refund)
            url = refund.request.get("notify_url") or refund.order.request["notify_url"]
        summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[status]
        self.state.notifier.notify(url, f"REFUND.{status}", summary, "refund", plaintext)
        return refund

    def refund_object(self, refund: Refund) -> dict:
        """The Refund object (§4) of the refund API and refund query."""
        data = {"refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no,
                "transaction_id": refund.order.transaction_id,
                "out_trade_no": refund.order.out_trade_no, "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱", "create_time": rfc3339(refund.created_at),
                "status": refund.status, "funds_account": "AVAILABLE", "promotion_detail": [],
                "amount": {"total": refund.order.total, "refund": refund.amount, "from": [],
                           "payer_total": refund.order.total, "payer_refund": refund.amount,
                           "settlement_refund": refund.amount, "settlement_total": refund.order.total,
                           "discount_refund": 0, "currency": "CNY", "refund_fee": 0}}
        if refund.success_time is not None:
            data["success_time"] = rfc3339(refund.success_time)
        return data

    def refund_notification(self, refund: Refund) -> dict:
        """Refund callback plaintext: ``refund_status``, not ``status`` (§4)."""
        data = {"mchid": self.state.mchid, "out_trade_no": refund.order.out_trade_no,
                "transaction_id": refund.order.transaction_id, "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id, "refund_status": refund.status,
                "user_received_account": "支付用户零钱",
                "amount": {"total": refund.order.total, "refund": refund.amount,
                           "payer_total": refund.order.total, "payer_refund": refund.amount}}
        if refund.success_time is not None:
            data["success_time"] = rfc3339(refund.success_time)
        return data
