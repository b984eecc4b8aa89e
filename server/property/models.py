"""Communities, buildings, houses, owners and who may see which house."""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, UTCDateTimeField
from server.timeutil import utcnow


class Community(BaseModel):
    """A residential community (小区).  ``code`` prefixes its receipt numbers."""

    name = pw.CharField(max_length=100, unique=True)
    code = pw.CharField(max_length=16, unique=True)
    address = pw.CharField(max_length=255, default="")
    created_at = UTCDateTimeField(default=utcnow)


class Building(BaseModel):
    community = pw.ForeignKeyField(Community, backref="buildings", on_delete="RESTRICT")
    name = pw.CharField(max_length=50)

    class Meta:
        indexes = ((("community", "name"), True),)


class HouseStatus:
    OCCUPIED = "occupied"
    VACANT = "vacant"
    ALL = (OCCUPIED, VACANT)


class House(BaseModel):
    """One unit that is billed.  Floor area is an exact Decimal in m²."""

    community = pw.ForeignKeyField(Community, backref="houses", on_delete="RESTRICT")
    building = pw.ForeignKeyField(Building, backref="houses", on_delete="RESTRICT")
    unit = pw.CharField(max_length=20, default="")
    room_no = pw.CharField(max_length=20)
    floor_area = pw.DecimalField(max_digits=10, decimal_places=2)
    status = pw.CharField(max_length=16, default=HouseStatus.OCCUPIED)
    owner_name = pw.CharField(max_length=50, default="")
    owner_phone = pw.CharField(max_length=20, default="", index=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("building", "unit", "room_no"), True),)

    @property
    def label(self) -> str:
        parts = [self.building.name]
        if self.unit:
            parts.append(self.unit)
        parts.append(self.room_no)
        return "-".join(parts)


class Owner(BaseModel):
    """A WeChat user of the mini-program.  The openid only ever comes from WeChat."""

    openid = pw.CharField(max_length=128, unique=True)
    unionid = pw.CharField(max_length=128, null=True)
    phone = pw.CharField(max_length=20, default="")
    nickname = pw.CharField(max_length=64, default="")
    created_at = UTCDateTimeField(default=utcnow)


class BindingRole:
    OWNER = "owner"
    TENANT = "tenant"
    FAMILY = "family"
    ALL = (OWNER, TENANT, FAMILY)


class BindingStatus:
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Binding(BaseModel):
    """Owner ↔ house, with how the link was verified (phone, code, staff)."""

    owner = pw.ForeignKeyField(Owner, backref="bindings", on_delete="RESTRICT")
    house = pw.ForeignKeyField(House, backref="bindings", on_delete="RESTRICT")
    role = pw.CharField(max_length=16, default=BindingRole.OWNER)
    verified_by = pw.CharField(max_length=16)  # phone | code | staff | import
    status = pw.CharField(max_length=16, default=BindingStatus.ACTIVE)
    created_at = UTCDateTimeField(default=utcnow)
    decided_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = ((("owner", "house"), True),)
