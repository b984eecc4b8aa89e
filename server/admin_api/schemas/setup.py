"""Setting a community up: communities, buildings, house data, bindings and binding
codes, fee items with their standard versions, and the meter-reading grid."""
from __future__ import annotations

from server.admin_api.schemas.common import (DecimalOut, Field, Id, ListQuery, Literal, Period, QueryArgs,
                                             RequestBody, ResponseModel, Text, Timestamp, dt)

Decimal4 = r"^\d{1,8}(\.\d{1,4})?$"


class CommunityBody(RequestBody):
    name: Text(100, 1)
    code: Text(16, 1) = Field(description="short code, the prefix of receipt numbers")
    address: Text(255) = ""


class BuildingBody(RequestBody):
    community_id: Id
    name: Text(50, 1)


class BuildingOut(ResponseModel):
    id: int
    community_id: int
    name: str


class HousePatch(RequestBody):
    """Only the fields sent change; a new area applies to bills issued from now on."""

    floor_area: str | None = Field(None, pattern=r"^\d{1,8}(\.\d{1,2})?$", description="m², exact decimal")
    owner_name: Text(50) | None = None
    owner_phone: Text(11) | None = Field(None, description="11-digit mobile number, or empty")
    status: Literal["occupied", "vacant"] | None = None


class BindingQuery(ListQuery):
    community_id: Id | None = None
    status: Literal["pending", "decided"] = Field("pending", description="pending requests, or those "
                                                  "staff decided")


class BindingOut(ResponseModel):
    id: int
    house_id: int
    community_id: int
    house_label: str
    owner_id: int
    owner_nickname: str
    owner_phone: str | None
    role: Literal["owner", "tenant", "family"]
    verified_by: str
    status: Literal["active", "pending", "rejected", "revoked"]
    created_at: Timestamp
    decided_at: Timestamp | None


class BindingsOut(ResponseModel):
    items: list[BindingOut]
    next_after_id: int | None


class BindingCodeBody(RequestBody):
    role: Literal["owner", "tenant", "family"]


class BindingCodeOut(ResponseModel):
    id: int
    house_id: int
    role: str
    expires_at: Timestamp
    created_by: int | None
    created_at: Timestamp
    used_at: Timestamp | None
    revoked_at: Timestamp | None
    code: str | None = Field(description="the plain code, only in the answer that issued it "
                                         "(only its hash is stored)")


class FeeItemBody(RequestBody):
    community_id: Id
    code: Text(32, 1)
    name: Text(50, 1)


class StandardFields(RequestBody):
    method: Literal["fixed", "per_area", "metered"]
    unit_price: str = Field(pattern=Decimal4, description="yuan per unit, exact decimal (≤ 4 places)")
    unit: Text(16) = Field("", description="metered items: m³, kWh …")
    cycle: Literal["monthly", "quarterly", "yearly"] = "monthly"
    due_day: int = Field(15, ge=1, le=31)
    late_fee_daily_rate: str = Field("0", pattern=r"^0(\.\d{1,6})?$")
    late_fee_grace_days: int = Field(0, ge=0, le=365)
    late_fee_cap_ratio: str = Field("0", pattern=r"^[01](\.\d{1,4})?$")
    effective_from: dt.date
    effective_to: dt.date | None = None
    note: Text(255) = ""


class StandardPatch(RequestBody):
    """A draft's fields to change (a published version is never edited: 409)."""

    method: Literal["fixed", "per_area", "metered"] | None = None
    unit_price: str | None = Field(None, pattern=Decimal4)
    unit: Text(16) | None = None
    cycle: Literal["monthly", "quarterly", "yearly"] | None = None
    due_day: int | None = Field(None, ge=1, le=31)
    late_fee_daily_rate: str | None = Field(None, pattern=r"^0(\.\d{1,6})?$")
    late_fee_grace_days: int | None = Field(None, ge=0, le=365)
    late_fee_cap_ratio: str | None = Field(None, pattern=r"^[01](\.\d{1,4})?$")
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    note: Text(255) | None = None


class StandardOut(ResponseModel):
    id: int
    fee_item_id: int
    version: int
    status: Literal["draft", "published"]
    method: str
    unit_price: DecimalOut(4)
    unit: str
    cycle: str
    due_day: int
    late_fee_daily_rate: DecimalOut(6)
    late_fee_grace_days: int
    late_fee_cap_ratio: DecimalOut(4)
    effective_from: dt.date
    effective_to: dt.date | None
    note: str
    created_by: int | None
    created_at: Timestamp
    published_at: Timestamp | None


class FeeItemRefOut(ResponseModel):
    id: int
    community_id: int
    code: str
    name: str
    active: bool


class StandardDetailOut(StandardOut):
    fee_item: FeeItemRefOut


class FeeItemOut(ResponseModel):
    id: int
    community_id: int
    code: str
    name: str
    active: bool
    created_at: Timestamp
    standards: list[StandardOut] = Field(description="every version, oldest first")


class FeeItemQuery(ListQuery):
    community_id: Id | None = None


class FeeItemsOut(ResponseModel):
    items: list[FeeItemOut]
    next_after_id: int | None


class GridQuery(QueryArgs):
    fee_item_id: Id
    period: Period
    building_id: Id | None = None
    limit: int = Field(100, ge=1, le=500)
    after_id: int | None = Field(None, ge=0, le=2**31 - 1, description="a meter id")


class GridRowOut(ResponseModel):
    meter_id: int
    house_id: int
    house_label: str
    previous: DecimalOut(2) = Field(description="the reading before the period, or the meter's start")
    previous_on: dt.date | None
    previous_period: str | None
    swapped: bool = Field(description="the meter was replaced since the last reading")
    reading_id: int | None
    current: DecimalOut(2) | None
    usage: DecimalOut(2) | None
    anomaly: str | None


class GridOut(ResponseModel):
    fee_item_id: int
    period: str
    items: list[GridRowOut]
    next_after_id: int | None
