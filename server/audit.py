"""The audit log: who did what to which record, with before and after.

``record`` is called inside the same transaction as the change it describes,
so the change and its audit row commit or roll back together.
"""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.timeutil import utcnow


class AuditLog(BaseModel):
    at = UTCDateTimeField(default=utcnow, index=True)
    actor_type = pw.CharField(max_length=16)  # staff | owner | system | wechat
    actor_id = pw.CharField(max_length=64, default="")
    action = pw.CharField(max_length=64, index=True)
    entity = pw.CharField(max_length=32)
    entity_id = pw.CharField(max_length=64)
    community_id = pw.IntegerField(null=True, index=True)
    before = JSONField(null=True)
    after = JSONField(null=True)
    note = pw.TextField(default="")

    class Meta:
        indexes = ((("entity", "entity_id"), False),
                   (("community_id", "at"), False))  # migration 0008: a community's log, newest first


class Actor:
    """Who is acting: built once at the edge (view, CLI, job) and passed down."""

    __slots__ = ("type", "id", "staff_id")

    def __init__(self, type_: str, id_: str | int = "", staff_id: int | None = None):
        self.type = type_
        self.id = str(id_)
        self.staff_id = staff_id

    @classmethod
    def staff(cls, staff_user) -> "Actor":
        return cls("staff", staff_user.username, staff_user.id)

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls("system", name)

    def __repr__(self) -> str:
        return f"Actor({self.type}:{self.id})"


def record(actor: Actor, action: str, entity: str, entity_id, *, before=None, after=None,
           community_id: int | None = None, note: str = "") -> AuditLog:
    return AuditLog.create(
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        community_id=community_id,
        before=before,
        after=after,
        note=note,
    )


# --- reading the log (the staff audit page) ---------------------------------------------

def search(community_ids, *, include_global: bool = False, actor_id: str = "",
           action_prefix: str = "", entity: str = "", entity_id: str = "",
           since=None, until=None):
    """Audit rows newest first, filtered; ``community_ids`` bounds what is visible.

    Rows without a community (sign-ins, staff accounts, tokens) are included only
    when ``include_global`` (admins).  ``since``/``until`` are aware datetimes,
    ``until`` exclusive.
    """
    scope = AuditLog.community_id.in_(list(community_ids) or [-1])
    if include_global:
        scope = scope | AuditLog.community_id.is_null()
    query = AuditLog.select().where(scope)
    if actor_id:
        query = query.where(AuditLog.actor_id == actor_id)
    if action_prefix:
        query = query.where(AuditLog.action.startswith(action_prefix))
    if entity:
        query = query.where(AuditLog.entity == entity)
    if entity_id:
        query = query.where(AuditLog.entity_id == str(entity_id))
    if since is not None:
        query = query.where(AuditLog.at >= since)
    if until is not None:
        query = query.where(AuditLog.at < until)
    return query.order_by(AuditLog.at.desc(), AuditLog.id.desc())


class Change:
    """One key of a before/after pair, for display."""

    __slots__ = ("key", "before", "after", "changed")

    def __init__(self, key: str, before, after, changed: bool):
        self.key, self.before, self.after, self.changed = key, before, after, changed

    def __repr__(self) -> str:
        return f"Change({self.key}: {self.before!r} → {self.after!r})"


_MISSING = object()


def diff(before, after) -> list[Change]:
    """The union of the keys of ``before`` and ``after`` (dicts), each marked changed or not.

    A key present on one side only is shown as missing (``None``) on the other.
    Non-dict values (rare) are shown as one pseudo-key ``""``.
    """
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and isinstance(after, dict):
            before = {}
        elif after is None and isinstance(before, dict):
            after = {}
        else:
            return [] if before is None and after is None else [
                Change("", before, after, before != after)]
    keys = list(before) + [k for k in after if k not in before]
    changes = []
    for key in keys:
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        changes.append(Change(str(key), None if old is _MISSING else old,
                              None if new is _MISSING else new, old != new))
    return changes
