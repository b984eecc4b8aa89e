"""The Idempotency-Key of an offline receipt is unique per staff member, enforced by
the database: a partial unique index on ``payment_order (operator_id, idempotency_key)``
over the orders without an owner that carry a key (the (owner, key) index never
compares two offline orders, whose owner is NULL).  Partial indexes work on SQLite
and PostgreSQL alike; the model declares the same index by name
(``payments.models``), so the schema diff sees no drift.

Never edit, add a migration.
"""
from peewee import SQL


def up(migrator, db):
    migrator.migrate(migrator.add_index(
        'payment_order', ('operator_id', 'idempotency_key'), unique=True,
        where=SQL('owner_id IS NULL AND idempotency_key IS NOT NULL'),
        name='paymentorder_offline_idempotency_key'))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('payment_order', 'paymentorder_offline_idempotency_key'))
