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
        indexes = ((("entity", "entity_id"), False),)


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
