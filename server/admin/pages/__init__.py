"""The flow pages, one module per area, each registering routes on ``server.admin.views.bp``.

- ``property``: communities, buildings, houses, owners, bindings and approvals, binding
  codes; fee items and standards (versions, publishing).
- ``billing``: meter readings (entry grid, import), billing runs (preview → issue),
  bills (list, detail, owner's view), adjustments (request → approve).
- ``payments``: offline payments and receipts, daily cash close, orders (query WeChat
  now), refunds (request → approve → status).
- ``operations``: reconciliation, disputes, reminders and campaigns, alerts.
- ``system``: audit log, background tasks (progress), staff API tokens.
"""
