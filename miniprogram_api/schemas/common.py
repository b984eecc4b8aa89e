"""Building blocks of the request and response schemas.

Requests are strict (no type coercion in JSON bodies) and closed (unknown
fields are errors).  Responses carry money as ``{"fen": 1234, "yuan": "12.34"}``
(integer fen is the amount, the yuan string is for display only) and exact
decimals (unit prices, quantities, readings) as strings, never floats.
"""
from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,
                      WithJsonSchema)

from server.money import format_yuan

# Text that PostgreSQL can store: no NUL characters; required text has a visible character.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"


class RequestBody(BaseModel):
    """A JSON body: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryArgs(BaseModel):
    """Query-string arguments: strings parsed into their types, unknown names refused."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - reads like a type
    """A string of at most ``max_length``; ``min_length`` ≥ 1 also means "not just spaces"."""
    pattern = NOT_BLANK if min_length else NO_NUL
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=pattern)]


class Money(ResponseModel):
    fen: int = Field(description="amount in integer fen (分): the value to compute with")
    yuan: str = Field(description="the same amount in yuan, for display", pattern=r"^-?\d+\.\d{2}$")


@functools.lru_cache(maxsize=8192)
def _yuan(fen: int) -> str:
    return format_yuan(fen)   # a list repeats the same few amounts (0 above all): format each once


def _to_money(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"fen": value, "yuan": _yuan(value)}
    return value


MoneyOut = Annotated[Money, BeforeValidator(_to_money)]


def DecimalOut(places: int):  # noqa: N802
    """An exact decimal rendered as a string with ``places`` decimals ("2.5000")."""
    quantum = Decimal(1).scaleb(-places)

    def _quantize(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return Decimal(value).quantize(quantum)

    pattern = rf"^-?\d+\.\d{{{places}}}$" if places else r"^-?\d+$"
    return Annotated[Decimal, BeforeValidator(_quantize),
                     PlainSerializer(lambda d: format(d, "f"), return_type=str),
                     WithJsonSchema({"type": "string", "pattern": pattern,
                                     "description": f"exact decimal, {places} places"})]


Timestamp = Annotated[dt.datetime, Field(description="UTC, ISO 8601")]


def _integral_float(value: Any) -> Any:
    # JSON Schema counts 7.0 as an integer; strict mode would not.  Strings stay refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Id = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_integral_float)]


class ErrorBody(ResponseModel):
    code: str = Field(description="stable machine-readable code, e.g. BILL_NOT_FOUND")
    message: str = Field(description="a message to show to the owner")
    details: dict[str, Any] = Field(description="field → problem, or other context")


class ErrorResponse(ResponseModel):
    """Every error of the API, whatever the status."""

    error: ErrorBody


class FeeItemRef(ResponseModel):
    id: int
    code: str
    name: str


class CommunityRef(ResponseModel):
    id: int
    name: str


class HouseAddress(ResponseModel):
    id: int
    community: CommunityRef
    building: str
    unit: str
    room_no: str
    label: str = Field(description="building-unit-room, as printed on bills")


class HouseRef(HouseAddress):
    floor_area: DecimalOut(2) = Field(description="m²")
