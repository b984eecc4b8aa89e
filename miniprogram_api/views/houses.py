"""``/houses``: the owner's houses, binding and unbinding; communities and their standards."""
from __future__ import annotations

from miniprogram_api import ratelimit
from miniprogram_api.blueprint import bp, wxa_client
from miniprogram_api.contract import operation
from miniprogram_api.schemas.houses import (BindBody, BindByCode, BindByPhone, BindOut,
                                            CommunitiesOut, CommunityQuery, FeeStandardsOut,
                                            HousesOut)
from server.owners import bindings, houses


@bp.get("/houses")
@operation("List my houses and pending binding requests", tag="houses", response=HousesOut)
def list_houses(owner_id: int):
    return houses.owner_houses(owner_id)


@bp.post("/houses/bind")
@operation("Bind a house by phone number, binding code or request", tag="houses", body=BindBody,
           response=BindOut, errors=(403, 404, 409, 503), limit=ratelimit.binding)
def bind_house(owner_id: int, body: BindBody):
    """`phone`: every house whose registered phone is the number WeChat verified is bound
    as owner (`house_id` picks one of them); 404 PHONE_NOT_REGISTERED when none, 403
    PHONE_CODE_INVALID.  `code`: a one-time code from the property office (404
    BINDING_CODE_INVALID, 409 BINDING_CODE_USED or BINDING_CODE_EXPIRED).  `request`: the
    house named by its address (404 HOUSE_NOT_FOUND) waits for the office (`pending`)."""
    choice = body.root
    if isinstance(choice, BindByPhone):
        bound = bindings.bind_by_phone(wxa_client(), owner_id, choice.phone_code, choice.house_id)
        return {"status": "active", "houses": houses.house_addresses([b.house_id for b in bound])}
    if isinstance(choice, BindByCode):
        bound = bindings.bind_by_code(owner_id, choice.binding_code)
        return {"status": "active", "houses": houses.house_addresses([bound.house_id])}
    a = choice.address
    house = bindings.find_house(a.community_id, a.building, a.room_no, a.unit)
    pending = bindings.request_binding(owner_id, house.id, choice.role)
    return {"status": pending.status, "houses": houses.house_addresses([pending.house_id])}


@bp.delete("/houses/<int:house_id>/binding")
@operation("Unbind a house (or withdraw a pending request)", tag="houses", status=204)
def unbind_house(owner_id: int, house_id: int):
    bindings.unbind(owner_id, house_id)


@bp.get("/communities")
@operation("Find a community by name (to request a binding)", tag="houses", query=CommunityQuery,
           response=CommunitiesOut)
def list_communities(owner_id: int, query: CommunityQuery):
    return {"communities": houses.search_communities(query.q)}


@bp.get("/communities/<int:community_id>/fee-standards")
@operation("Published fee standards, current and upcoming", tag="houses",
           response=FeeStandardsOut)
def fee_standards(owner_id: int, community_id: int):
    """Only for a community where the owner has a bound house (404 otherwise)."""
    return houses.community_fee_standards(owner_id, community_id)
