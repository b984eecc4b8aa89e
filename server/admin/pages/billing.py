"""Staff pages: billing (see server/admin/pages/__init__.py for who owns which pages).

- ``billing_meters``: 抄表 — the entry grid and the recorded readings.
- ``billing_runs``: 计费批次 — preview → issue (a task with progress) → the run's result.
- ``billing_bills``: 账单 — filters, totals, export; a bill's basis, history, audit and
  what the owner sees in the mini-program; requesting an adjustment.
- ``billing_adjustments``: 调整与减免 — pending requests, approve or reject.
"""
from __future__ import annotations

from server.admin.pages import (billing_adjustments, billing_bills, billing_meters,  # noqa: F401
                                billing_runs)
from server.admin.views import bp  # noqa: F401
