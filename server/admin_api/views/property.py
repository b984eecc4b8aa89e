"""``/communities``, ``/buildings`` and ``/houses``."""
from __future__ import annotations

from server.admin_api import queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import ADMIN_ONLY, MANAGE, StaffContext, staff_operation
from server.admin_api.schemas.property import (CommunitiesOut, CommunityOut, HouseDetailOut, HouseQuery,
                                               HousesOut)
from server.admin_api.schemas.setup import BuildingBody, BuildingOut, CommunityBody, HousePatch
from server.property import services


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


@bp.post("/communities")
@staff_operation("Create a community (admins)", tag="property", roles=ADMIN_ONLY, body=CommunityBody,
                 response=CommunityOut, status=201, errors=(409,))
def create_community(staff: StaffContext, body: CommunityBody):
    """409 ``COMMUNITY_EXISTS`` when the name or code is taken."""
    c = services.create_community(body.name, body.code, body.address, staff.actor)
    return {"id": c.id, "code": c.code, "name": c.name, "address": c.address}, 201


@bp.post("/buildings")
@staff_operation("Add a building to a community", tag="property", roles=MANAGE, body=BuildingBody,
                 response=BuildingOut, status=201, errors=(409,))
def create_building(staff: StaffContext, body: BuildingBody):
    staff.check(body.community_id)
    b = services.create_building(body.community_id, body.name, staff.actor)
    return {"id": b.id, "community_id": b.community_id, "name": b.name}, 201


@bp.patch("/houses/<int:house_id>")
@staff_operation("Change a house's area, registered owner, phone or status", tag="property",
                 roles=MANAGE, body=HousePatch, response=HouseDetailOut)
def update_house(staff: StaffContext, house_id: int, body: HousePatch):
    """Only the fields sent change (audited before and after).  Issued bills keep their
    quantity: a new area is used from the next billing run on."""
    current = queries.house_detail(house_id, staff.community_ids)
    changes = body.model_dump(exclude_unset=True)
    values = {name: changes[name] if changes.get(name) is not None else current[name]
              for name in ("floor_area", "owner_name", "owner_phone", "status")}
    services.update_house(house_id, staff.actor, floor_area=str(values["floor_area"]),
                          owner_phone=values["owner_phone"], owner_name=values["owner_name"],
                          status=values["status"])
    return queries.house_detail(house_id, staff.community_ids)
