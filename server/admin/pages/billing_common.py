"""What the billing pages share: Chinese labels, refusals in Chinese, argument parsing."""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from flask import abort, current_app, request

from server.admin import common
from server.billing.models import AdjustmentKind, AdjustmentStatus, BillStatus, RunStatus
from server.errors import DomainError
from server.timeutil import PeriodError, parse_period

BILL_STATUS = {BillStatus.UNPAID: "未缴", BillStatus.PARTIALLY_PAID: "部分缴纳",
               BillStatus.PAID: "已缴", BillStatus.WAIVED: "已减免", BillStatus.VOID: "已作废"}
RUN_STATUS = {RunStatus.PREVIEWED: "已预览", RunStatus.ISSUING: "出账中", RunStatus.ISSUED: "已出账",
              RunStatus.FAILED: "失败"}
ADJ_KIND = {AdjustmentKind.WAIVER: "减免", AdjustmentKind.DISCOUNT: "优惠",
            AdjustmentKind.CORRECTION: "更正", AdjustmentKind.VOID: "作废"}
ADJ_STATUS = {AdjustmentStatus.PENDING: "待审批", AdjustmentStatus.APPROVED: "已批准",
              AdjustmentStatus.REJECTED: "已驳回"}
METHOD = {"fixed": "固定（每户每月）", "per_area": "按面积（每平方米每月）", "metered": "按表计量"}
PROBLEM = {"missing_reading": "缺少本期读数", "no_meter": "未安装水电表", "zero_area": "房屋面积为零",
           "no_standard": "没有生效的收费标准", "usage_high": "用量异常偏高", "usage_zero": "在住房屋用量为零"}
ANOMALY = {"usage_high": "用量异常偏高", "usage_zero": "用量为零"}
CHANNEL = {"wechat": "微信支付", "cash": "现金", "bank_transfer": "银行转账", "pos": "POS刷卡"}
REFUND_STATUS = {"pending_approval": "待审批", "rejected": "已驳回", "processing": "处理中",
                 "success": "成功", "abnormal": "异常", "closed": "已关闭"}
DISPUTE_STATUS = {"open": "待回复", "answered": "已回复", "resolved": "已解决", "withdrawn": "已撤回"}

# Refusals from the domain, said in Chinese (by code; a few by the field at fault).
MESSAGES = {
    "SECOND_APPROVER_REQUIRED": "申请人不能审批自己的调整：金额达到审批线，需要另一位主管审批。",
    "ALREADY_DECIDED": "该调整已经处理过了。",
    "BALANCE_NEGATIVE": "调整后账单应缴余额将小于零，不能这样调整。",
    "BILL_VOID": "账单已作废，不能再调整。",
    "BILL_HAS_PAYMENTS": "账单已有缴费，不能作废；请先退款。",
    "BILL_CHANGED": "申请之后账单已发生变化（如新增滞纳金或缴费），请驳回后重新申请。",
    "READING_DECREASED": "本期读数低于上期读数 {previous}；如已换表，请先登记换表。",
    "READING_EXISTS": "该账期已录入读数 {current}，不能改为其他数值。",
    "READING_OUT_OF_ORDER": "已有更晚账期的读数，不能补录更早的账期。",
    "NO_METER": "该房屋没有此项目的表具，请先安装。",
    "NO_READINGS": "没有填写任何读数。",
    "METER_EXISTS": "该房屋已有此项目的表具。",
}
FIELD_MESSAGES = {
    "reason": "请填写调整原因（最多255字）。",
    "kind": "请选择调整类型。",
    "amount_fen": "金额不符合要求：减免和优惠须为正数金额（系统按减少处理），更正不能为零。",
    "current": "读数应为不小于 0、最多两位小数的数字。",
    "period": "账期格式应为 YYYY-MM。",
}


def zh(exc: DomainError) -> str:
    """The refusal's message in Chinese (the original when we have no translation)."""
    template = MESSAGES.get(exc.code)
    if template:
        try:
            return template.format(**{k: _number(v) for k, v in (exc.details or {}).items()})
        except (KeyError, IndexError):
            return template.split("{")[0]
    for key in (exc.details or {}):
        if key in FIELD_MESSAGES:
            return FIELD_MESSAGES[key]
    if exc.code == "NOT_FOUND":
        return "记录不存在。"
    return exc.message


def _number(value):
    try:
        return r2(value) if isinstance(value, str) else value
    except InvalidOperation:
        return value


def act(fn, *, success: str, redirect_to: str):
    """``common.run_action`` with the refusal's message translated."""
    def call():
        try:
            return fn()
        except DomainError as exc:
            exc.message = zh(exc)
            raise

    return common.run_action(call, success=success, redirect_to=redirect_to)


def arg_int(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        abort(400, f"参数 {name} 应为整数")


def arg_period(name: str = "period", default: str | None = None) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        parse_period(raw)
    except PeriodError:
        abort(400, "账期格式应为 YYYY-MM")
    return raw


def r2(value) -> str:
    """A meter reading or usage with two decimals (SQLite hands back "12.5")."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"


def js(value) -> str:
    """An audit row's before/after as readable JSON (Chinese kept as is)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def config():
    return current_app.extensions["wuyepay_config"]


def house_label(house) -> str:
    parts = [house.building.name] + ([house.unit] if house.unit else []) + [house.room_no]
    return "-".join(parts)


def labels() -> dict:
    """Everything a billing template may want to show in Chinese."""
    return {"bill_status": BILL_STATUS, "run_status": RUN_STATUS, "adj_kind": ADJ_KIND,
            "adj_status": ADJ_STATUS, "methods": METHOD, "problems": PROBLEM, "anomalies": ANOMALY,
            "channels": CHANNEL, "refund_status": REFUND_STATUS, "dispute_status": DISPUTE_STATUS,
            "house_label": house_label, "r2": r2, "js": js}
