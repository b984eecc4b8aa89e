"""Receipt numbers: per community and year, gap-free, assigned once.

``HY2026000123`` = community code + year + sequence.  The counter row is
created on first use and incremented with a single UPDATE inside the caller's
transaction, which holds its row lock until commit, so two payments can never
get the same number and a rolled-back payment gives its number back.
"""
from __future__ import annotations

import datetime as dt

from server.ledger.models import ReceiptCounter
from server.property.models import Community
from server.timeutil import local_today


def next_receipt_no(community: Community, on: dt.date | None = None) -> str:
    """Take the next number; call inside the transaction that records the payment."""
    year = (on or local_today()).year
    ReceiptCounter.insert(community=community, year=year, last_seq=0).on_conflict_ignore().execute()
    (ReceiptCounter.update(last_seq=ReceiptCounter.last_seq + 1)
     .where(ReceiptCounter.community == community, ReceiptCounter.year == year)
     .execute())
    seq = (ReceiptCounter.select(ReceiptCounter.last_seq)
           .where(ReceiptCounter.community == community, ReceiptCounter.year == year)
           .scalar())
    return f"{community.code}{year}{seq:06d}"
