"""Property staff who run billing and collection."""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, UTCDateTimeField
from server.property.models import Community
from server.timeutil import utcnow


class StaffRole:
    ADMIN = "admin"
    MANAGER = "manager"
    CASHIER = "cashier"
    VIEWER = "viewer"
    ALL = (ADMIN, MANAGER, CASHIER, VIEWER)


class StaffUser(BaseModel):
    username = pw.CharField(max_length=64, unique=True)
    display_name = pw.CharField(max_length=64, default="")
    password_hash = pw.CharField(max_length=255, default="")
    role = pw.CharField(max_length=16, default=StaffRole.VIEWER)
    active = pw.BooleanField(default=True)
    failed_logins = pw.IntegerField(default=0)
    locked_until = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    last_login_at = UTCDateTimeField(null=True)


class StaffCommunity(BaseModel):
    """Which communities a staff member may see (admins see all)."""

    staff = pw.ForeignKeyField(StaffUser, backref="community_links", on_delete="CASCADE")
    community = pw.ForeignKeyField(Community, on_delete="CASCADE")

    class Meta:
        indexes = ((("staff", "community"), True),)


class StaffApiToken(BaseModel):
    """A bearer token for the staff JSON API (``/api/admin/v1``), for an ERP or a script.

    Only the SHA-256 of the token is stored; it acts as its staff member, with
    that member's role and communities, until it expires or is revoked.
    """

    staff = pw.ForeignKeyField(StaffUser, backref="api_tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=64, default="")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)
    last_used_at = UTCDateTimeField(null=True)
