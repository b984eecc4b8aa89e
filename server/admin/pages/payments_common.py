"""What the payment pages share: status and channel names, the WeChat Pay client,
and turning a refusal (domain or WeChat) into one flash message."""
from __future__ import annotations

from flask import current_app, flash

from payments import exceptions as wx
from payments.models import Channel
from payments.queries import house_label
from server.errors import DomainError

CHANNELS = Channel.NAMES
ORDER_STATUSES = {"created": "待处理", "paying": "支付中", "unknown": "待确认", "paid": "已支付",
                  "closed": "已关闭", "partially_refunded": "部分退款", "refunded": "已退款"}
OFFLINE_STATUSES = {"created": "待审批", "paid": "已入账", "closed": "已驳回",
                    "partially_refunded": "部分退款", "refunded": "已退款"}
REFUND_STATUSES = {"pending_approval": "待审批", "rejected": "已驳回", "processing": "处理中",
                   "success": "退款成功", "abnormal": "退款异常", "closed": "已关闭"}
EVENT_STATUSES = {"received": "已接收", "applied": "已处理", "ignored": "已忽略", "rejected": "已拒绝",
                  "failed": "处理失败", "duplicate": "重复"}
LABELS = {"channels": CHANNELS, "order_statuses": ORDER_STATUSES, "offline_statuses": OFFLINE_STATUSES,
          "refund_statuses": REFUND_STATUSES, "event_statuses": EVENT_STATUSES,
          "house_label": house_label}


def config():
    return current_app.extensions["wuyepay_config"]


def wechat_client():
    from payments.gateway import client_for

    return client_for(config())


def refusal(exc: Exception) -> str:
    """The message staff see for a refused operation (field details appended)."""
    if isinstance(exc, DomainError):
        details = [f"{v}" if not k.isdigit() else f"账单 {k}：{v}" for k, v in exc.details.items()
                   if isinstance(v, str)]
        return exc.message + (f"（{'；'.join(details)}）" if details and exc.status == 422 else "")
    if isinstance(exc, wx.WeChatPayError):
        return f"微信支付暂时无法完成该操作，请稍后重试（{exc.code or type(exc).__name__}）"
    raise exc


def flash_refusal(exc: Exception) -> None:
    flash(refusal(exc), "error")


REFUSED = (DomainError, wx.WeChatPayError)
