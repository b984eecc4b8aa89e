"""Staff pages: payments (see server/admin/pages/__init__.py for who owns which pages).

- ``payments_offline``: /admin/offline-payments (counter, approvals, list), /admin/receipts/<no>
- ``payments_cash``: /admin/cash-close (a cashier's day by channel, 日结, history)
- ``payments_orders``: /admin/orders (WeChat orders, query WeChat now, close expired)
- ``payments_refunds``: /admin/payments/<id> (detail, refund requests), /admin/refunds
"""
from __future__ import annotations

from server.admin.pages import (payments_cash, payments_offline, payments_orders,  # noqa: F401
                                payments_refunds)
from server.admin.views import bp  # noqa: F401
