"""One-time subscription quotas: counted from what owners accept, spent per send.

Every change is a single conditional UPDATE on the owner's row for the
template, so concurrent reports and sends never lose a count and
``remaining`` never goes below zero (a CHECK constraint backs that up).
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from server.db import transaction
from server.errors import NotFound, ValidationError
from server.timeutil import utcnow
from templates_msg import registry
from templates_msg.models import SubscribeResult, Subscription

MAX_PER_CALL = 3   # wx.requestSubscribeMessage takes at most 3 template ids

_COUNTER = {SubscribeResult.ACCEPT: Subscription.accepted, SubscribeResult.REJECT: Subscription.rejected,
            SubscribeResult.BAN: Subscription.banned, SubscribeResult.FILTER: Subscription.filtered}


def _changes(result: str, now: dt.datetime) -> dict:
    counter = _COUNTER[result]
    changes = {counter: counter + 1, Subscription.last_result: result, Subscription.updated_at: now}
    if result == SubscribeResult.ACCEPT:
        changes[Subscription.remaining] = Subscription.remaining + 1
    return changes


def _apply(owner_id: int, template_id: str, result: str, now: dt.datetime) -> None:
    where = (Subscription.owner == owner_id) & (Subscription.template_id == template_id)
    if Subscription.update(_changes(result, now)).where(where).execute():
        return
    try:
        with transaction():
            Subscription.create(owner=owner_id, template_id=template_id, last_result=result,
                                remaining=1 if result == SubscribeResult.ACCEPT else 0,
                                created_at=now, updated_at=now, **{_COUNTER[result].name: 1})
    except pw.IntegrityError:  # a concurrent report created the row first
        Subscription.update(_changes(result, now)).where(where).execute()


def record_results(owner_id: int, results: dict[str, str], *, config=None,
                   now: dt.datetime | None = None) -> None:
    """Apply the answer of one ``wx.requestSubscribeMessage`` call.

    Each ``accept`` grants one send of that template (they accumulate, without
    expiry); ``reject``, ``ban`` and ``filter`` grant nothing and take nothing
    away from earlier accepts — WeChat keeps those too.
    """
    if not results:
        raise ValidationError("没有订阅结果", details={"results": "at least one template"})
    if len(results) > MAX_PER_CALL:
        raise ValidationError("一次最多订阅 3 个模板", details={"results": f"at most {MAX_PER_CALL}"})
    known = registry.by_template_id(config)
    unknown = sorted(t for t in results if t not in known)
    if unknown:
        raise NotFound("未知的订阅消息模板", code="UNKNOWN_TEMPLATE",
                       details={f"results.{t}": "unknown template id" for t in unknown})
    bad = sorted(t for t, r in results.items() if r not in SubscribeResult.ALL)
    if bad:
        raise ValidationError("订阅结果无效：每个模板的结果应为 accept、reject、ban 或 filter",
                              details={f"results.{t}": "accept|reject|ban|filter" for t in bad})
    now = now or utcnow()
    with transaction():
        for template_id, result in sorted(results.items()):
            _apply(owner_id, template_id, result, now)


def owner_subscriptions(owner_id: int, *, config=None) -> list[dict]:
    """Every template we send, with the owner's remaining sends and answers so far."""
    rows = {s.template_id: s for s in Subscription.select().where(Subscription.owner == owner_id)}
    result = []
    for template in registry.templates(config).values():
        s = rows.get(template.template_id)
        result.append({
            "kind": template.kind, "title": template.title, "template_id": template.template_id,
            "remaining": s.remaining if s else 0, "accepted": s.accepted if s else 0,
            "rejected": s.rejected if s else 0, "banned": s.banned if s else 0,
            "filtered": s.filtered if s else 0, "sent": s.sent if s else 0,
            "last_result": (s.last_result or None) if s else None,
            "updated_at": s.updated_at if s else None})
    return result


def consume_quota(owner_id: int, template_id: str, *, now: dt.datetime | None = None) -> bool:
    """Take one send; False when none is left.  Call before sending."""
    return bool(Subscription.update({Subscription.remaining: Subscription.remaining - 1,
                                     Subscription.sent: Subscription.sent + 1,
                                     Subscription.updated_at: now or utcnow()})
                .where(Subscription.owner == owner_id, Subscription.template_id == template_id,
                       Subscription.remaining > 0)
                .execute())


def release_quota(owner_id: int, template_id: str, *, now: dt.datetime | None = None) -> None:
    """Give back a send WeChat did not deliver for a reason other than the quota."""
    (Subscription.update({Subscription.remaining: Subscription.remaining + 1,
                          Subscription.sent: Subscription.sent - 1,
                          Subscription.updated_at: now or utcnow()})
     .where(Subscription.owner == owner_id, Subscription.template_id == template_id,
            Subscription.sent > 0)
     .execute())


def clear_quota(owner_id: int, template_id: str, *, now: dt.datetime | None = None) -> None:
    """WeChat answered 43101 (no subscription left): trust WeChat, not our count."""
    (Subscription.update(remaining=0, updated_at=now or utcnow())
     .where(Subscription.owner == owner_id, Subscription.template_id == template_id)
     .execute())
