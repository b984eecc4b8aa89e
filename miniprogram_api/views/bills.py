"""``/houses/{id}/bills`` and ``/bills/{id}``: itemized bills and their history."""
from __future__ import annotations

from miniprogram_api.blueprint import bp
from miniprogram_api.contract import operation
from miniprogram_api.schemas.bills import BillDetailOut, BillQuery, HouseBillsOut
from server.owners import statements


@bp.get("/houses/<int:house_id>/bills")
@operation("A house's bills grouped by period, with totals", tag="bills", query=BillQuery,
           response=HouseBillsOut)
def house_bills(owner_id: int, house_id: int, query: BillQuery):
    return statements.house_bills(owner_id, house_id, status=query.status, period=query.period)


@bp.get("/bills/<int:bill_id>")
@operation("One bill with its history", tag="bills", response=BillDetailOut)
def bill_detail(owner_id: int, bill_id: int):
    """Approved adjustments, payments applied, refunds, late-fee days and my disputes."""
    return statements.bill_detail(owner_id, bill_id)
