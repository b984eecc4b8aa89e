"""Owner sessions and one-time binding codes.

Neither table keeps a usable secret: a session token and a binding code are
stored only as their SHA-256, so a copy of the database opens no account and
binds no house.  WeChat's ``session_key`` is not stored at all (the phone
number comes from ``getuserphonenumber``, which needs no decryption).
"""
from __future__ import annotations

import peewee as pw

from server.db import BaseModel, UTCDateTimeField
from server.property.models import House, Owner
from server.staff.models import StaffUser
from server.timeutil import utcnow


class OwnerSession(BaseModel):
    """A login of one owner on one device: an opaque bearer token, sliding expiry,
    revocable.  ``token_hash`` is the hex SHA-256 of the token the client holds."""

    owner = pw.ForeignKeyField(Owner, backref="sessions", on_delete="RESTRICT")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField(default=utcnow)
    last_used_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField(index=True)
    revoked_at = UTCDateTimeField(null=True)
    user_agent = pw.CharField(max_length=255, default="")


class BindingCode(BaseModel):
    """A one-time code staff hand to a resident to bind one house with one role.

    Redeemed by a conditional UPDATE (``used_at IS NULL AND revoked_at IS NULL
    AND expires_at > now``), so two owners typing the same code at once bind
    one house once.
    """

    house = pw.ForeignKeyField(House, backref="binding_codes", on_delete="RESTRICT")
    role = pw.CharField(max_length=16)
    code_hash = pw.CharField(max_length=64, unique=True)
    expires_at = UTCDateTimeField()
    created_by = pw.ForeignKeyField(StaffUser, null=True, on_delete="RESTRICT")
    created_at = UTCDateTimeField(default=utcnow)
    used_at = UTCDateTimeField(null=True)
    used_by = pw.ForeignKeyField(Owner, null=True, on_delete="RESTRICT")
    revoked_at = UTCDateTimeField(null=True)
