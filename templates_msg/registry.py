"""The subscription-message templates we send, by kind.

Template ids are chosen in the WeChat console, so they come from
configuration (``WECHAT_TEMPLATE_<KIND>``); the defaults are the sandbox's.
The mini-program asks the owner for these ids with
``wx.requestSubscribeMessage`` (at most 3 per call) and reports the answers to
``POST /api/v1/subscriptions``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    kind: str
    title: str
    template_id: str


class Kind:
    BILL_ISSUED = "bill_issued"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    PAYMENT_SUCCESS = "payment_success"
    DISPUTE_REPLY = "dispute_reply"
    STAFF_ALERT = "staff_alert"       # to staff openids, not asked of owners


# kind → (title shown to owners, sandbox template id)
KINDS: dict[str, tuple[str, str]] = {
    Kind.BILL_ISSUED: ("账单出账通知", "SBX_TMPL_BILL_ISSUED_000000000000000000000"),
    Kind.DUE_SOON: ("缴费到期提醒", "SBX_TMPL_DUE_SOON_00000000000000000000000"),
    Kind.OVERDUE: ("欠费提醒", "SBX_TMPL_OVERDUE_000000000000000000000000"),
    Kind.PAYMENT_SUCCESS: ("缴费成功通知", "SBX_TMPL_PAYMENT_SUCCESS_000000000000000"),
    Kind.DISPUTE_REPLY: ("异议处理结果通知", "SBX_TMPL_DISPUTE_REPLY_00000000000000000"),
}


def config_key(kind: str) -> str:
    return f"WECHAT_TEMPLATE_{kind.upper()}"


def _get(config, key: str):
    if config is None:
        return None
    if isinstance(config, dict) or hasattr(config, "get"):
        return config.get(key)
    return getattr(config, key, None)


def templates(config=None) -> dict[str, Template]:
    """Every template by kind, ids from ``config`` (a mapping or a Config) or the defaults."""
    return {kind: Template(kind, title, _get(config, config_key(kind)) or default)
            for kind, (title, default) in KINDS.items()}


def template_for(kind: str, config=None) -> Template:
    return templates(config)[kind]


def by_template_id(config=None) -> dict[str, Template]:
    return {t.template_id: t for t in templates(config).values()}


# Templates staff subscribe to (not offered to owners by ``templates()``).
STAFF_KINDS: dict[str, tuple[str, str]] = {
    Kind.STAFF_ALERT: ("系统告警通知", "SBX_TMPL_STAFF_ALERT_0000000000000000000"),
}


def staff_alert_template(config=None) -> Template:
    """The alert template sent to ``ALERT_STAFF_OPENIDS`` (``WECHAT_TEMPLATE_STAFF_ALERT``)."""
    title, default = STAFF_KINDS[Kind.STAFF_ALERT]
    return Template(Kind.STAFF_ALERT, title, _get(config, config_key(Kind.STAFF_ALERT)) or default)
