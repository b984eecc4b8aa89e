"""Stored dashboard figures of one community for one finished Shanghai date."""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.property.models import Community
from server.timeutil import utcnow


class ReportSnapshot(BaseModel):
    """The figures of ``kind`` (collection / arrears / trend12) for ``community``,
    ``period`` ("" when the kind has none) as of ``as_of``.

    Derived data: written only for dates already over (see ``server.reports.snapshots``);
    ``accrual_mark`` is the highest late-fee accrual id when the figures were computed,
    so an accrual dated on or before ``as_of`` recorded afterwards marks them stale.
    """

    community = pw.ForeignKeyField(Community, on_delete="CASCADE")
    kind = pw.CharField(max_length=16)
    period = pw.CharField(max_length=7)
    as_of = pw.DateField()
    figures = JSONField()
    accrual_mark = pw.BigIntegerField(default=0)
    computed_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("community", "kind", "period", "as_of"), True),)
