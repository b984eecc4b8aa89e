"""What the billing pages share: Chinese labels, argument parsing."""
from __future__ import annotations

import json
from decimal import Decimal

from flask import abort, current_app, request

from payments.models import Channel
from server.admin import common
from server.billing.models import AdjustmentKind, AdjustmentStatus, BillStatus, RunStatus
from server.errors import DomainError
from server.timeutil import PeriodError, parse_period

BILL_STATUS = BillStatus.NAMES
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
CHANNEL = Channel.NAMES
REFUND_STATUS = {"pending_approval": "待审批", "rejected": "已驳回", "processing": "处理中",
                 "success": "成功", "abnormal": "异常", "closed": "已关闭"}
DISPUTE_STATUS = {"open": "待回复", "answered": "已回复", "resolved": "已解决", "withdrawn": "已撤回"}


def zh(exc: DomainError) -> str:
    """The refusal's message for the page (the domain says it in Chinese)."""
    return exc.message


def act(fn, *, success: str, redirect_to: str):
    return common.run_action(fn, success=success, redirect_to=redirect_to)


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
