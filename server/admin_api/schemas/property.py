"""Communities and houses."""
from __future__ import annotations

from server.admin_api.schemas.common import (DecimalOut, Field, Id, ListQuery, Literal, ResponseModel,
                                             Text, Timestamp)


class CommunityOut(ResponseModel):
    id: int
    code: str
    name: str
    address: str


class CommunitiesOut(ResponseModel):
    items: list[CommunityOut]


class HouseQuery(ListQuery):
    community_id: Id | None = None
    search: Text(64) | None = Field(None, description="room number, owner name or phone (substring)")


class HouseOut(ResponseModel):
    id: int
    community_id: int
    building: str
    unit: str
    room_no: str
    label: str = Field(description="building-unit-room, as printed on bills")
    floor_area: DecimalOut(2) = Field(description="m²")
    status: Literal["occupied", "vacant"]
    owner_name: str
    owner_phone: str
    created_at: Timestamp


class HousesOut(ResponseModel):
    items: list[HouseOut]
    next_after_id: int | None


class HouseDetailOut(HouseOut):
    open_bills: int = Field(description="bills unpaid or partially paid")
    outstanding_fen: int = Field(description="Σ balance of the open bills")
    active_bindings: int
