"""One function per template, building its ``data`` within WeChat's field limits.

Keys are ``<type><n>`` (wechat-pay-v3.md §9): the type fixes what a value may
hold (``thing`` ≤ 20 characters, ``phrase`` ≤ 5 汉字, ``character_string`` ≤ 32
printable ASCII, ``amount`` a currency symbol and ≤ 10 digits …).  A value that
breaks its limit makes WeChat answer 47003 and the owner gets nothing, so every
builder truncates free text sensibly (``…`` at the end) and :func:`validate`
checks the result before anything is sent.
"""
from __future__ import annotations

import datetime as dt
import re

from templates_msg.registry import Kind

ELLIPSIS = "…"
THING_MAX = 20
_CJK = r"\u4e00-\u9fff"
_DATE = r"(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{1,2}-\d{1,2})"
_TIME = r"\d{1,2}:\d{2}(:\d{2})?"


def _range_ok(value: str, pattern: str) -> bool:
    parts = [p.strip() for p in value.split("~")]
    return 0 < len(parts) <= 2 and all(re.fullmatch(pattern, p) for p in parts)


def _name_ok(value: str) -> bool:
    if re.search(rf"[{_CJK}]", value):
        return 0 < len(value) <= 10
    return 0 < len(value) <= 20


RULES = {
    "thing": lambda v: 0 < len(v) <= THING_MAX,
    "number": lambda v: len(v) <= 32 and re.fullmatch(r"\d+(\.\d+)?", v),
    "letter": lambda v: 0 < len(v) <= 32 and re.fullmatch(r"[A-Za-z]+", v),
    "symbol": lambda v: 0 < len(v) <= 5 and re.fullmatch(r"[^\w\s]+", v),
    "character_string": lambda v: 0 < len(v) <= 32 and re.fullmatch(r"[\x21-\x7e]+", v),
    "time": lambda v: _range_ok(v, rf"({_DATE}\s*)?{_TIME}"),
    "date": lambda v: _range_ok(v, rf"{_DATE}(\s*{_TIME})?"),
    "amount": lambda v: re.fullmatch(r"[¥￥$]?\d{1,10}(\.\d{1,2})?元?", v),
    "phone_number": lambda v: 0 < len(v) <= 17 and re.fullmatch(r"[0-9+\-() ]+", v),
    "car_number": lambda v: 0 < len(v) <= 8
    and re.fullmatch(rf"[{_CJK}A-Z0-9]?[A-Z0-9]*[{_CJK}A-Z0-9]?", v),
    "name": _name_ok,
    "phrase": lambda v: 0 < len(v) <= 5 and re.fullmatch(rf"[{_CJK}]+", v),
}


class TemplateDataError(ValueError):
    """A value breaks its field type's limit (WeChat would answer 47003)."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v!r}" for k, v in sorted(problems.items())))
        self.problems = problems


def field_type(key: str) -> str:
    """``thing1`` → ``thing``; ``character_string12`` → ``character_string``."""
    return re.sub(r"\d+$", "", key)


def problems(data: dict) -> dict[str, str]:
    """Every key whose value breaks its type's limit (empty when all is well)."""
    bad = {}
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        rule = RULES.get(field_type(key))
        if rule is None or not isinstance(value, str) or not rule(value):
            bad[key] = value
    return bad


def validate(data: dict) -> dict:
    """Return ``data`` unchanged, or raise :class:`TemplateDataError`."""
    if not data:
        raise TemplateDataError({"data": "empty"})
    bad = problems(data)
    if bad:
        raise TemplateDataError(bad)
    return data


# ----------------------------------------------------------------- value helpers
def thing(text: str, limit: int = THING_MAX) -> str:
    """Whitespace collapsed; cut to ``limit`` characters ending in '…' when longer."""
    text = " ".join(str(text or "").split()) or "-"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def house_label(community: str, house: str) -> str:
    """``阳光花园 3栋-2单元-1502`` within 20 characters, keeping the house itself whole
    when it can (the community name is what gets cut)."""
    house = " ".join(str(house or "").split())
    community = " ".join(str(community or "").split())
    if len(house) >= THING_MAX - 2 or not community:
        return thing(house or community)
    room = THING_MAX - len(house) - 1          # one space between
    if len(community) > room:
        community = community[: room - 1] + ELLIPSIS
    return f"{community} {house}"


def amount(fen: int) -> str:
    """12834 → ``¥128.34`` (never negative: a credit balance shows as ¥0.00)."""
    fen = max(int(fen), 0)
    return f"¥{fen // 100}.{fen % 100:02d}"


def date(day: dt.date | dt.datetime) -> str:
    """``2026年11月25日`` (a datetime is taken as already local)."""
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def date_time(moment: dt.datetime) -> str:
    return f"{date(moment)} {moment.hour:02d}:{moment.minute:02d}"


def character_string(text: str) -> str:
    """Printable ASCII only, at most 32 characters (the tail is kept: ids end uniquely)."""
    text = re.sub(r"[^\x21-\x7e]", "", str(text or "")) or "-"
    return text[-32:]


def phrase(text: str) -> str:
    text = re.sub(rf"[^{_CJK}]", "", str(text or ""))
    return text[:5] or "通知"


def _fee(fee_name: str, period: str) -> str:
    return thing(f"{fee_name} {period}")


def _v(**values: str) -> dict:
    return {key: {"value": value} for key, value in values.items()}


# ---------------------------------------------------------------- the templates
def bill_issued(*, community: str, house: str, fee_name: str, period: str, amount_fen: int,
                due_date: dt.date) -> dict:
    """账单出账通知: 房屋 / 费用 / 金额 / 缴费截止 / 备注."""
    return validate(_v(thing1=house_label(community, house), thing2=_fee(fee_name, period),
                       amount3=amount(amount_fen), date4=date(due_date),
                       thing5=thing("新账单已出，请在截止日前缴纳")))


def due_soon(*, community: str, house: str, fee_name: str, period: str, amount_fen: int,
             due_date: dt.date, days_left: int) -> dict:
    """缴费到期提醒 (also on the due day itself, ``days_left`` 0)."""
    note = "今天是缴费截止日" if days_left <= 0 else f"还有{days_left}天到期，请及时缴纳"
    return validate(_v(thing1=house_label(community, house), thing2=_fee(fee_name, period),
                       amount3=amount(amount_fen), date4=date(due_date), thing5=thing(note)))


def overdue(*, community: str, house: str, fee_name: str, period: str, amount_fen: int,
            due_date: dt.date, days_overdue: int) -> dict:
    """欠费提醒."""
    return validate(_v(thing1=house_label(community, house), thing2=_fee(fee_name, period),
                       amount3=amount(amount_fen), date4=date(due_date),
                       thing5=thing(f"已逾期{days_overdue}天，请尽快缴纳")))


def payment_success(*, community: str, house: str, amount_fen: int, paid_at: dt.datetime,
                    receipt_no: str) -> dict:
    """缴费成功通知 (``paid_at`` local time)."""
    return validate(_v(thing1=house_label(community, house), amount2=amount(amount_fen),
                       date3=date_time(paid_at), character_string4=character_string(receipt_no),
                       phrase5=phrase("缴费成功")))


def dispute_reply(*, community: str, house: str, reply: str, status: str,
                  replied_at: dt.datetime) -> dict:
    """异议处理结果通知 (``status`` e.g. 已答复 / 已解决)."""
    return validate(_v(thing1=house_label(community, house), thing2=thing(reply),
                       phrase3=phrase(status), date4=date_time(replied_at)))


SEVERITY_TEXT = {"critical": "严重", "warning": "警告", "info": "提示"}


def staff_alert(*, kind: str, severity: str, message: str, count: int, at: dt.datetime) -> dict:
    """系统告警通知 to staff: 告警 / 级别 / 内容 / 时间 / 次数 (``at`` local time).

    The message is the alert's own Chinese text cut to 20 characters; the kind
    (an ASCII code such as ``reconciliation_differences``) stays whole when it fits."""
    return validate(_v(character_string1=character_string(kind),
                       phrase2=phrase(SEVERITY_TEXT.get(severity, "告警")), thing3=thing(message),
                       date4=date_time(at), number5=str(max(int(count or 1), 1))))


BUILDERS = {Kind.BILL_ISSUED: bill_issued, Kind.DUE_SOON: due_soon, Kind.OVERDUE: overdue,
            Kind.PAYMENT_SUCCESS: payment_success, Kind.DISPUTE_REPLY: dispute_reply,
            Kind.STAFF_ALERT: staff_alert}
