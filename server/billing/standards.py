"""Fee items and their versioned fee standards (收费标准).

A standard is created as a draft, may be edited while a draft, and is then
published.  A published version is never edited: a price change is a new
version with a later ``effective_from``, which supersedes the older ones from
that date on.  ``standard_for`` picks the version in force on a day.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee

from server import audit
from server.billing.models import Cycle, FeeItem, FeeStandard, Method, StandardStatus
from server.billing.rules import UNIT_FIXED, UNIT_PER_AREA
from server.db import for_update, transaction
from server.errors import Conflict, NotFound, ValidationError
from server.money import MoneyError, to_decimal
from server.property.models import Community
from server.timeutil import utcnow

EDITABLE = ("method", "unit_price", "unit", "cycle", "due_day", "late_fee_daily_rate",
            "late_fee_grace_days", "late_fee_cap_ratio", "effective_from", "effective_to", "note")
FIELD_LABELS = {"method": "计费方式", "unit_price": "单价", "unit": "计量单位", "cycle": "收费周期",
                "due_day": "缴费日", "late_fee_daily_rate": "滞纳金日费率",
                "late_fee_grace_days": "宽限天数", "late_fee_cap_ratio": "滞纳金上限比例",
                "effective_from": "生效日期", "effective_to": "截止日期", "note": "备注",
                "code": "编码", "name": "名称"}
_METHOD_ZH = {Method.FIXED: "固定", Method.PER_AREA: "按面积", Method.METERED: "按用量"}
_CYCLE_ZH = {Cycle.MONTHLY: "按月", Cycle.QUARTERLY: "按季", Cycle.YEARLY: "按年"}


def _refused(what: str, errors: dict) -> ValidationError:
    """One refusal listing every field problem in Chinese (details keep them by field)."""
    listed = "；".join(f"{FIELD_LABELS.get(k, k)}：{v}" for k, v in errors.items())
    return ValidationError(f"{what}填写有误：{listed}", details=errors)


def create_fee_item(community_id: int, code: str, name: str, actor: audit.Actor) -> FeeItem:
    code, name = (code or "").strip(), (name or "").strip()
    errors = {}
    if not code or len(code) > 32:
        errors["code"] = "必填，最多 32 个字符"
    if not name or len(name) > 50:
        errors["name"] = "必填，最多 50 个字符"
    if errors:
        raise _refused("收费项目", errors)
    if not Community.select().where(Community.id == community_id).exists():
        raise NotFound(f"小区 {community_id} 不存在")
    try:
        with transaction():
            item = FeeItem.create(community=community_id, code=code, name=name)
            audit.record(actor, "fee_item.create", "fee_item", item.id,
                         after={"code": code, "name": name}, community_id=community_id)
    except peewee.IntegrityError:
        raise Conflict(f"本小区已有编码为“{code}”的收费项目，请换一个编码",
                       code="FEE_ITEM_EXISTS") from None
    return item


def _decimal(errors: dict, name: str, value, *, places: int, low: Decimal,
             high: Decimal | None = None) -> Decimal | None:
    try:
        number = to_decimal(value)
    except MoneyError:
        errors[name] = "应为数字"
        return None
    if number.as_tuple().exponent < -places:
        errors[name] = f"最多 {places} 位小数"
    elif number < low or (high is not None and number > high):
        errors[name] = f"应在 {low} 到 {high} 之间" if high is not None else f"不能小于 {low}"
    return number


def validate(values: dict) -> dict:
    """Normalise a standard's fields; raise ValidationError listing every problem."""
    errors: dict[str, str] = {}
    out = dict(values)
    method = values.get("method")
    if method not in Method.ALL:
        errors["method"] = f"应为{'、'.join(_METHOD_ZH[m] for m in Method.ALL)}之一"
    cycle = values.get("cycle", Cycle.MONTHLY)
    if cycle not in Cycle.MONTHS:
        errors["cycle"] = f"应为{'、'.join(_CYCLE_ZH.get(c, c) for c in Cycle.MONTHS)}之一"
    elif method == Method.METERED and cycle != Cycle.MONTHLY:
        errors["cycle"] = "按用量计费的项目只能按月收费"
    out["cycle"] = cycle
    out["unit_price"] = _decimal(errors, "unit_price", values.get("unit_price"), places=4,
                                 low=Decimal(0), high=Decimal("99999999.9999"))
    out["late_fee_daily_rate"] = _decimal(errors, "late_fee_daily_rate",
                                          values.get("late_fee_daily_rate", 0), places=6,
                                          low=Decimal(0), high=Decimal("0.01"))
    out["late_fee_cap_ratio"] = _decimal(errors, "late_fee_cap_ratio",
                                         values.get("late_fee_cap_ratio", 0), places=4,
                                         low=Decimal(0), high=Decimal(1))
    for name, low, high in (("due_day", 1, 31), ("late_fee_grace_days", 0, 365)):
        value = values.get(name, 15 if name == "due_day" else 0)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = f"应为 {low} 到 {high} 的整数"
        out[name] = value
    unit = (values.get("unit") or "").strip()
    if method == Method.FIXED:
        unit = UNIT_FIXED
    elif method == Method.PER_AREA:
        unit = UNIT_PER_AREA
    elif method == Method.METERED and not unit:
        errors["unit"] = "按用量计费的项目必须填写（如 m³、kWh）"
    if len(unit) > 16:
        errors["unit"] = "最多 16 个字符"
    out["unit"] = unit
    start, end = values.get("effective_from"), values.get("effective_to")
    if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
        errors["effective_from"] = "应为日期"
    if end is not None and (not isinstance(end, dt.date) or isinstance(end, dt.datetime)
                            or (isinstance(start, dt.date) and end < start)):
        errors["effective_to"] = "不能早于生效日期"
    out["note"] = (values.get("note") or "").strip()[:255]
    if errors:
        raise _refused("收费标准", errors)
    return out


def _snapshot(standard: FeeStandard) -> dict:
    data = {name: getattr(standard, name) for name in EDITABLE}
    data.update(version=standard.version, status=standard.status)
    return data


def create_standard(fee_item_id: int, actor: audit.Actor, **values) -> FeeStandard:
    """A new draft version (version = highest so far + 1) of a fee item's standard."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"不认识的字段：{'、'.join(sorted(unknown))}",
                              details={k: "未知字段" for k in sorted(unknown)})
    clean = validate(values)
    item = FeeItem.get_or_none(FeeItem.id == fee_item_id)
    if item is None:
        raise NotFound(f"收费项目 {fee_item_id} 不存在")
    for _ in range(3):  # a concurrent create may take the same version number
        try:
            with transaction():
                last = (FeeStandard.select(peewee.fn.MAX(FeeStandard.version))
                        .where(FeeStandard.fee_item == item.id).scalar()) or 0
                standard = FeeStandard.create(fee_item=item, version=last + 1,
                                              status=StandardStatus.DRAFT,
                                              created_by=actor.staff_id, **clean)
                audit.record(actor, "fee_standard.create", "fee_standard", standard.id,
                             after=_snapshot(standard), community_id=item.community_id)
            return standard
        except peewee.IntegrityError:
            continue
    raise Conflict("有人同时新建了该项目的收费标准版本，请稍后重试")


def update_draft(standard_id: int, actor: audit.Actor, **changes) -> FeeStandard:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"不认识的字段：{'、'.join(sorted(unknown))}",
                              details={k: "未知字段" for k in sorted(unknown)})
    with transaction():
        standard = _locked(standard_id)
        if standard.status != StandardStatus.DRAFT:
            raise Conflict("已发布的收费标准不能修改，请新建一个版本",
                           code="STANDARD_PUBLISHED")
        before = _snapshot(standard)
        merged = {name: getattr(standard, name) for name in EDITABLE}
        merged.update(changes)
        for name, value in validate(merged).items():
            setattr(standard, name, value)
        standard.save()
        audit.record(actor, "fee_standard.update", "fee_standard", standard.id, before=before,
                     after=_snapshot(standard), community_id=standard.fee_item.community_id)
    return standard


def publish_standard(standard_id: int, actor: audit.Actor) -> FeeStandard:
    """Publish a draft.  Its ``effective_from`` must be later than that of every
    published version of the item, so the newest version always supersedes."""
    with transaction():
        standard = _locked(standard_id)
        if standard.status != StandardStatus.DRAFT:
            raise Conflict("该收费标准已经发布过了", code="STANDARD_PUBLISHED")
        # Lock the item so two publications of the same item are serialised.
        for_update(FeeItem.select().where(FeeItem.id == standard.fee_item_id)).get()
        latest = (FeeStandard.select(peewee.fn.MAX(FeeStandard.effective_from))
                  .where(FeeStandard.fee_item == standard.fee_item_id,
                         FeeStandard.status == StandardStatus.PUBLISHED).scalar())
        if latest is not None and standard.effective_from <= _as_date(latest):
            raise ValidationError(
                f"新版本的生效日期须晚于当前已发布版本的生效日期 {_as_date(latest).isoformat()}，"
                "请修改生效日期后再发布",
                details={"effective_from": f"须晚于 {_as_date(latest).isoformat()}"})
        before = _snapshot(standard)
        standard.status = StandardStatus.PUBLISHED
        standard.published_at = utcnow()
        standard.save()
        audit.record(actor, "fee_standard.publish", "fee_standard", standard.id, before=before,
                     after=_snapshot(standard), community_id=standard.fee_item.community_id)
    return standard


def standard_for(fee_item, on_date: dt.date) -> FeeStandard | None:
    """The published version in force on ``on_date``: the latest effective_from
    on or before it, unless that version has an ``effective_to`` before it."""
    item_id = fee_item.id if isinstance(fee_item, FeeItem) else fee_item
    standard = (FeeStandard.select()
                .where(FeeStandard.fee_item == item_id,
                       FeeStandard.status == StandardStatus.PUBLISHED,
                       FeeStandard.effective_from <= on_date)
                .order_by(FeeStandard.effective_from.desc(), FeeStandard.version.desc())
                .first())
    if standard is None or (standard.effective_to and _as_date(standard.effective_to) < on_date):
        return None
    return standard


def _locked(standard_id: int) -> FeeStandard:
    standard = for_update(FeeStandard.select().where(FeeStandard.id == standard_id)).first()
    if standard is None:
        raise NotFound(f"收费标准 {standard_id} 不存在")
    return standard


def _as_date(value) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value
