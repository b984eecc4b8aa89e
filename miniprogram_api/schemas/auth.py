"""Login and logout."""
from __future__ import annotations

from pydantic import Field

from miniprogram_api.schemas.common import RequestBody, ResponseModel, Text, Timestamp


class LoginBody(RequestBody):
    code: Text(128, 1) = Field(description="the code from wx.login(), single use, ~5 minutes")


class OwnerOut(ResponseModel):
    id: int
    phone_verified: bool = Field(description="a phone number was verified through WeChat")
    created_at: Timestamp


class LoginOut(ResponseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; keep it secret")
    token_type: str = Field("Bearer", pattern="^Bearer$")
    expires_at: Timestamp = Field(description="extended by use (sliding), until logout")
    owner: OwnerOut
    new_owner: bool = Field(description="this login created the owner")
