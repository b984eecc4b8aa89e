"""Declared staff operations: the owner API's contract layer with staff tokens.

    @bp.get("/bills/<int:bill_id>")
    @staff_operation("One bill", tag="bills", response=BillDetailOut)
    def bill_detail(staff: StaffContext, bill_id: int): ...

Each request is checked in this order: the bearer token (401), the role
(403 ``FORBIDDEN`` for a role the operation does not allow), then the query and
body (422 on unknown fields and wrong types, via :mod:`miniprogram_api.contract`);
the view checks community scope with ``staff.check(community_id)`` (404).
The operation record is the owner API's ``Operation``, so
:mod:`miniprogram_api.openapi` documents these routes too.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Callable

from flask import g

from miniprogram_api.contract import MAX_ID, Operation, _parse_body, _parse_query, bearer_token, render
from server.audit import Actor
from server.errors import Forbidden, NotFound
from server.property.models import Community
from server.staff import tokens
from server.staff.models import StaffCommunity, StaffRole, StaffUser

# Who may do what, as on the staff pages (server.admin.common).
READ = StaffRole.ALL
WRITE = (StaffRole.ADMIN, StaffRole.MANAGER, StaffRole.CASHIER)
MANAGE = (StaffRole.ADMIN, StaffRole.MANAGER)
ADMIN_ONLY = (StaffRole.ADMIN,)


@dataclass
class StaffContext:
    """The staff member a token acts as, and the communities they may see."""

    user: StaffUser
    _community_ids: list[int] | None = field(default=None, repr=False)

    @property
    def actor(self) -> Actor:
        return Actor.staff(self.user)

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def all_communities(self) -> bool:
        return self.user.role == StaffRole.ADMIN

    @property
    def community_ids(self) -> list[int]:
        if self._community_ids is None:
            if self.all_communities:
                query = Community.select(Community.id)
            else:
                query = (StaffCommunity.select(StaffCommunity.community)
                         .where(StaffCommunity.staff == self.user.id))
            self._community_ids = sorted(row[0] for row in query.tuples())
        return self._community_ids

    def check(self, community_id: int | None) -> None:
        """404 unless this staff member may see ``community_id`` (other communities' ids reveal nothing)."""
        if community_id is None or community_id not in self.community_ids:
            raise NotFound("资源不存在")

    def scope(self, community_id: int | None = None) -> list[int]:
        """The ``community_id`` filter if given (404 when not permitted), else every permitted id."""
        if community_id is None:
            return self.community_ids
        self.check(community_id)
        return [community_id]

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden("当前角色无权执行此操作", details={"role": self.role})


def authenticate() -> StaffContext:
    if "api_staff" not in g:
        g.api_staff = StaffContext(tokens.authenticate(bearer_token()))
    return g.api_staff


def staff_operation(summary: str, *, tag: str, roles: tuple[str, ...] = READ, body=None, query=None,
                    response=None, status: int = 200, errors: tuple[int, ...] = (),
                    description: str = "", headers: list[dict] | None = None,
                    more_statuses: tuple[int, ...] = ()) -> Callable:
    """Declare a staff operation allowed to ``roles``; the view receives ``staff``."""
    errors = tuple(errors) + ((403,) if set(READ) - set(roles) else ())

    def decorate(view: Callable) -> Callable:
        op = Operation(summary=summary, tag=tag, view_name=view.__name__, body=body, query=query,
                       response=response, status=status, errors=errors, auth=True,
                       description=description or inspect.cleandoc(view.__doc__ or ""),
                       headers=list(headers or []), more_statuses=tuple(more_statuses))

        @functools.wraps(view)
        def wrapper(**path):
            staff = authenticate()
            staff.require(*roles)
            for name, value in path.items():
                if isinstance(value, int) and value > MAX_ID:
                    raise NotFound("资源不存在", details={name: "no such id"})
            kwargs = dict(path, staff=staff)
            if op.query is not None:
                kwargs["query"] = _parse_query(op.query)
            if op.body is not None:
                kwargs["body"] = _parse_body(op.body)
            return render(op, view(**kwargs))

        wrapper.openapi = op
        return wrapper

    return decorate
