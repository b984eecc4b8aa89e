"""``/communities`` and ``/houses``."""
from __future__ import annotations

from server.admin_api import queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import StaffContext, staff_operation
from server.admin_api.schemas.property import CommunitiesOut, HouseDetailOut, HouseQuery, HousesOut


@bp.get("/communities")
@staff_operation("The communities this token may see", tag="property", response=CommunitiesOut)
def list_communities(staff: StaffContext):
    return {"items": queries.communities(staff.community_ids)}


@bp.get("/houses")
@staff_operation("Houses, searchable by room number, owner name or phone", tag="property",
                 query=HouseQuery, response=HousesOut)
def list_houses(staff: StaffContext, query: HouseQuery):
    return queries.houses(staff.scope(query.community_id), search=query.search, limit=query.limit,
                          after_id=query.after_id)


@bp.get("/houses/<int:house_id>")
@staff_operation("One house with what it owes", tag="property", response=HouseDetailOut)
def get_house(staff: StaffContext, house_id: int):
    return queries.house_detail(house_id, staff.community_ids)
