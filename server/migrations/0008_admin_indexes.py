"""Indexes for the staff pages at the scale of a large property company (bench/admin_pages.py):

* ``payment (created_at)`` and ``refund (updated_at)``: the staff API's
  ``/payments?updated_since`` (a UNION of two range scans);
* ``payment (community_id, received_at)``: the dashboard's channel mix of a month;
* ``payment_order (community_id, created_at)`` and ``payment_order (created_at)``:
  the order list, newest first, for one community and for all;
* ``audit_log (community_id, at)``: the audit log of a community, newest first.

The models declare the same indexes (``Meta.indexes``), so the schema diff sees no
drift.  Never edit, add a migration.
"""


def up(migrator, db):
    migrator.migrate(
        migrator.add_index('payment', ('created_at',), False),
        migrator.add_index('payment', ('community_id', 'received_at'), False),
        migrator.add_index('refund', ('updated_at',), False),
        migrator.add_index('payment_order', ('community_id', 'created_at'), False),
        migrator.add_index('payment_order', ('created_at',), False),
        migrator.add_index('audit_log', ('community_id', 'at'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('audit_log', 'audit_log_community_id_at'),
        migrator.drop_index('payment_order', 'payment_order_created_at'),
        migrator.drop_index('payment_order', 'payment_order_community_id_created_at'),
        migrator.drop_index('refund', 'refund_updated_at'),
        migrator.drop_index('payment', 'payment_community_id_received_at'),
        migrator.drop_index('payment', 'payment_created_at'),
    )
