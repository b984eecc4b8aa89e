"""Staff pages: payments (see server/admin/pages/__init__.py for who owns which pages)."""
from __future__ import annotations

from server.admin.views import bp  # noqa: F401
