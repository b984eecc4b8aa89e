"""Building blocks shared by the staff API's schemas (the owner API's, reused)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from miniprogram_api.schemas.common import (DecimalOut, Id, QueryArgs, RequestBody, ResponseModel,
                                            Text, Timestamp)

__all__ = ["DecimalOut", "Id", "QueryArgs", "RequestBody", "ResponseModel", "Text", "Timestamp",
           "Period", "ListQuery", "Decision", "Note", "Json", "IDEMPOTENCY_HEADER", "dt",
           "Literal", "Annotated", "Field"]

Period = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Json = Any

IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": True,
    "schema": {"type": "string", "pattern": r"^[!-~]{1,64}$", "minLength": 1, "maxLength": 64},
    "description": "the client's id for this request: the same key again returns the first "
                   "result and never does the operation twice",
}


class ListQuery(QueryArgs):
    """Keyset pagination: items in ascending id order; pass ``next_after_id`` back as ``after_id``."""

    limit: int = Field(50, ge=1, le=200, description="items per page (1–200)")
    after_id: int | None = Field(None, ge=0, le=2**31 - 1, description="only items with a larger id")


class Note(RequestBody):
    note: Text(255) = ""


class Decision(Note):
    """An approval or rejection, with an optional note (send ``{}`` for none)."""
