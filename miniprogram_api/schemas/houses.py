"""Houses, binding and fee standards."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, RootModel

from miniprogram_api.schemas.common import (CommunityRef, DecimalOut, FeeItemRef, HouseAddress,
                                            HouseRef, Id, MoneyOut, QueryArgs, RequestBody,
                                            ResponseModel, Text, Timestamp)

Role = Literal["owner", "tenant", "family"]


class BindByPhone(RequestBody):
    """Bind every house registered under the phone number WeChat verified, as owner."""

    method: Literal["phone"]
    phone_code: Text(128, 1) = Field(description="the code from the getPhoneNumber button")
    house_id: Optional[Id] = Field(None, description="bind only this one of the matching houses")


class BindByCode(RequestBody):
    """Redeem a one-time binding code from the property office; the code decides house and role."""

    method: Literal["code"]
    binding_code: Annotated[str, Field(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9\- ]+$")]


class Address(RequestBody):
    community_id: Id
    building: Text(50, 1)
    unit: Text(20) = ""
    room_no: Text(20, 1)


class BindByRequest(RequestBody):
    """Ask the property office to approve a binding; it stays pending until they decide.
    The house is named by its address (an owner knows no ids of houses not yet theirs,
    and ids would let anyone walk through every house)."""

    method: Literal["request"]
    role: Role
    address: Address


class BindBody(RootModel[Annotated[Union[BindByPhone, BindByCode, BindByRequest],
                                   Field(discriminator="method")]]):
    pass


class BoundHouse(HouseRef):
    role: Role
    verified_by: str = Field(description="phone | code | staff | import")
    bound_at: Timestamp
    open_bills: int
    overdue_bills: int
    balance: MoneyOut = Field(validation_alias="balance_fen",
                              description="what is still owed on open bills")


class PendingRequest(HouseAddress):
    role: Role
    requested_at: Timestamp


class HousesOut(ResponseModel):
    houses: list[BoundHouse]
    pending_requests: list[PendingRequest]


class BindOut(ResponseModel):
    status: Literal["active", "pending"]
    houses: list[HouseAddress] = Field(description="GET /houses has the details once active")


class LateFeeRule(ResponseModel):
    daily_rate: DecimalOut(6) = Field(description="fraction of the unpaid principal per day")
    grace_days: int
    cap_ratio: DecimalOut(4) = Field(description="cap as a fraction of the principal (0 = none)")


class StandardOut(ResponseModel):
    id: int
    version: int
    method: Literal["fixed", "per_area", "metered"]
    unit_price: DecimalOut(4)
    unit: str
    cycle: Literal["monthly", "quarterly", "yearly"]
    due_day: int
    late_fee: LateFeeRule
    effective_from: dt.date
    effective_to: Optional[dt.date]
    note: str


class ItemStandards(ResponseModel):
    fee_item: FeeItemRef
    current: Optional[StandardOut] = Field(description="the version in force today")
    upcoming: list[StandardOut] = Field(description="published versions that start later")


class FeeStandardsOut(ResponseModel):
    community: CommunityRef
    as_of: dt.date = Field(description="today in Asia/Shanghai")
    items: list[ItemStandards]


class CommunityOut(ResponseModel):
    id: int
    name: str
    address: str


class CommunitiesOut(ResponseModel):
    communities: list[CommunityOut]


class CommunityQuery(QueryArgs):
    q: Text(50) = Field("", description="part of the community's name")
