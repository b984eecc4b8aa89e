"""Chinese names for the codes an audit row carries: actions, before/after fields and
their coded values.  Used by every page that shows history (audit log, bill, order,
staff); an unknown code shows as itself, so nothing is ever hidden.

Template filters: ``action_label``, ``field_label``, ``value_label(key)``, ``actor_label``.
"""
from __future__ import annotations

from payments.models import Channel
from server import audit
from server.admin.views import bp
from server.billing.models import BillStatus
from server.reconciliation.models import KIND_NAMES as RECON_KIND_NAMES

ENTITIES = {
    "adjustment": "调整", "admin_task": "后台任务", "alert": "告警", "bill": "账单", "billing_run": "计费批次",
    "binding": "绑定", "binding_code": "绑定码", "building": "楼栋", "cash": "日结", "cash_close": "日结",
    "community": "小区", "dispute": "异议", "fee_item": "收费项目", "fee_standard": "收费标准", "house": "房屋",
    "import": "导入", "late_fee": "滞纳金", "meter": "表计", "meter_reading": "抄表读数",
    "offline_payment": "线下收款", "order": "支付订单", "payment": "收款", "payment_order": "支付订单",
    "reconciliation": "对账", "reconciliation_item": "对账差异", "refund": "退款",
    "reminder_policy": "提醒策略", "staff": "员工", "staff_user": "员工", "staff_token": "接口令牌",
    "staff_api_token": "接口令牌", "task": "后台任务",
}
VERBS = {
    "accrue": "计提", "acknowledge": "确认", "activate": "启用", "allocate": "分配收款", "approve": "批准",
    "book": "入账", "close": "关闭", "close_requested": "申请关闭", "correction": "更正", "create": "创建",
    "credit": "入账", "deactivate": "停用", "discount": "优惠", "hold": "暂停催缴", "install": "安装",
    "issue": "出账", "locked": "锁定", "login": "登录", "login_failed": "登录失败", "login_refused": "拒绝登录",
    "logout": "退出", "open": "提出", "owner_message": "业主留言", "paid": "已支付", "prepay_refused": "下单被拒",
    "publish": "发布", "query": "查询", "record": "登记", "refund": "退款", "refused": "拒绝", "reject": "驳回",
    "replace": "更换", "request": "申请", "resolve": "处理", "resolved": "已解决", "revoke": "作废",
    "staff_message": "员工回复", "start": "启动", "unlock": "解锁", "update": "修改", "void": "作废",
    "waiver": "减免", "withdrawn": "撤回", "release": "恢复催缴",
}
FIELDS = {
    "adjusted_fen": "调整金额", "adjustment_id": "调整单", "amount_fen": "金额", "bill_id": "账单",
    "bill_issued_on": "出账通知", "bills": "账单", "bills_created": "新建账单", "bills_existing": "已有账单",
    "channel": "渠道", "code": "编码", "communities": "小区", "community_id": "小区", "current": "本期读数",
    "cycle": "周期", "due_day": "到期日", "due_day_on": "到期提醒", "due_soon_days": "到期前提醒天数",
    "due_soon_on": "临期提醒", "effective_from": "生效日", "effective_to": "失效日", "final_reading": "末次读数",
    "house_id": "房屋", "houses": "房屋数", "id": "编号", "installed_on": "安装日", "kind": "类型",
    "late_fee_cap_ratio": "滞纳金上限比例", "late_fee_daily_rate": "滞纳金日费率", "late_fee_fen": "滞纳金",
    "late_fee_grace_days": "滞纳金宽限天数", "message_id": "留言", "meter": "表计", "method": "计费方式",
    "name": "名称", "needs_review": "需复核", "note": "备注", "on_hold": "暂停催缴", "out_refund_no": "退款单号",
    "out_trade_no": "订单号", "overdue_every_days": "逾期提醒间隔天数", "overdue_max": "逾期提醒次数上限",
    "owner_id": "业主", "paid_fen": "已缴", "payment_id": "收款", "period": "账期", "previous": "上期读数",
    "problems": "问题", "reason": "原因", "receipt_no": "收据号", "replaced_on": "更换日", "role": "角色",
    "serial": "表号", "source": "来源", "start_reading": "起始读数", "status": "状态", "total_fen": "合计",
    "transaction_id": "微信支付交易号", "unit": "单位", "unit_price": "单价", "usage": "用量",
    "username": "用户名", "verified_by": "验证方式", "version": "版本", "voucher_no": "凭证号",
    "payer_name": "付款人", "received_on": "收款日", "resolution": "处理结果", "display_name": "姓名",
    "active": "在用", "locked_until": "锁定至", "failed_logins": "失败次数", "params": "参数",
    "days": "天数", "from": "起始日", "to": "截止日", "reference": "参考号", "refund_id": "退款",
    "resolved_at": "处理时间", "resolved_by": "处理人", "preview_run_id": "预览批次", "run_id": "批次",
    "remote_fen": "微信金额", "local_fen": "本地金额", "dispute_id": "异议", "text": "内容",
    "decided_at": "审批时间", "decided_by": "审批人", "decision_note": "审批意见", "order_id": "订单",
}
VALUES = {
    # bill, order, refund, adjustment, binding, dispute, task statuses
    **BillStatus.NAMES,
    "created": "已创建", "paying": "支付中", "closed": "已关闭", "partially_refunded": "部分退款",
    "refunded": "已退款", "pending_approval": "待审批", "rejected": "已驳回", "processing": "处理中",
    "success": "成功", "abnormal": "异常", "pending": "待审批", "approved": "已批准", "active": "有效",
    "revoked": "已解除", "open": "待处理", "answered": "已回复", "resolved": "已解决", "withdrawn": "已撤回",
    "queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败",
    # channels, kinds, methods, roles, cycles, reasons
    **Channel.NAMES,
    "waiver": "减免", "discount": "优惠", "correction": "更正",
    "fixed": "固定金额", "per_area": "按面积", "metered": "按表计量", "monthly": "每月", "quarterly": "每季度",
    "yearly": "每年", "owner": "业主", "tenant": "租户", "family": "家属", "admin": "管理员", "manager": "主管",
    "cashier": "收银员", "viewer": "只读", "phone": "手机号验证", "staff": "人工审核",
    "amount_wrong": "金额有误", "reading_wrong": "读数有误", "already_paid": "已缴过", "not_my_house": "不是我的房屋",
    "service_quality": "服务质量", "other": "其他", "billing_issue": "计费开账", "demo": "演示数据",
    # reconciliation differences and billing problems (``kind``)
    **RECON_KIND_NAMES, "missing_reading": "缺读数",
    "no_meter": "无表计", "zero_area": "面积为零", "no_standard": "无生效标准", "usage_high": "用量异常偏高",
    "usage_zero": "用量为零", "import": "导入", "export_houses": "导出房屋", "reconcile": "对账",
    "reminder_campaign": "催缴提醒活动",
}
VALUE_FIELDS = {"status", "channel", "kind", "method", "cycle", "role", "reason", "verified_by", "source"}
EVENTS = {"TRANSACTION.SUCCESS": "支付成功通知", "REFUND.SUCCESS": "退款成功通知",
          "REFUND.ABNORMAL": "退款异常通知", "REFUND.CLOSED": "退款关闭通知"}
RESULTS = {"applied": "已入账", "already_applied": "此前已入账（重复通知）", "rejected": "已拒绝",
           "not_final": "未终结，等待后续通知", "ignored": "已忽略"}
TRADE_STATES = {"SUCCESS": "支付成功", "REFUND": "转入退款", "NOTPAY": "未支付", "CLOSED": "已关闭",
                "REVOKED": "已撤销", "USERPAYING": "用户支付中", "PAYERROR": "支付失败", "PROCESSING": "退款处理中",
                "ABNORMAL": "退款异常"}
ACTORS = {"staff": "员工", "system": "系统", "owner": "业主", "api": "接口", "job": "任务"}


@bp.app_template_filter("action_label")
def action_label(action: str) -> str:
    """``refund.approve`` → ``退款·批准``; unknown parts stay as they are."""
    entity, _, verb = (action or "").partition(".")
    return f"{ENTITIES.get(entity, entity)}·{VERBS.get(verb, verb)}" if verb else ENTITIES.get(entity, entity)


@bp.app_template_filter("entity_label")
def entity_label(entity: str) -> str:
    return ENTITIES.get(entity, entity)


@bp.app_template_filter("field_label")
def field_label(key: str) -> str:
    return FIELDS.get(key, key)


@bp.app_template_filter("value_label")
def value_label(value, key: str = ""):
    """A coded value in Chinese when its field holds codes (``status``, ``channel`` …);
    ``True``/``False`` as 是/否; anything else unchanged."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and key in VALUE_FIELDS:
        return VALUES.get(value, value)
    return value


@bp.app_template_filter("actor_label")
def actor_label(actor_type: str) -> str:
    return ACTORS.get(actor_type, actor_type)


@bp.app_template_filter("event_label")
def event_label(event_type: str) -> str:
    return EVENTS.get(event_type, event_type)


@bp.app_template_filter("result_label")
def result_label(result: str) -> str:
    return RESULTS.get(result, result)


@bp.app_template_global("audit_diff")
def audit_diff(before, after):
    """The before/after of an audit row as rows for ``admin/system/_diff.html``."""
    return audit.diff(before, after)


@bp.app_template_filter("trade_state_label")
def trade_state_label(state: str) -> str:
    """WeChat's own trade/refund states (as the trade bill lists them) in Chinese."""
    return TRADE_STATES.get(state, state) if state else ""


@bp.app_template_filter("reminder_stage_label")
def reminder_stage_label(stage: str) -> str:
    from templates_msg.queries import stage_label

    return stage_label(stage or "")


@bp.app_template_filter("reminder_result_label")
def reminder_result_label(result: str) -> str:
    from server.admin.pages.operations_reminders import RESULT_NAMES

    return RESULT_NAMES.get(result, result)
