"""Every model, in dependency order: the registry migrations are checked against."""
from payments.models import CashClose, NotifyEvent, OrderBill, PaymentOrder
from server.alert_delivery import AlertDelivery
from server.alerts import Alert
from server.audit import AuditLog
from server.billing.models import (Adjustment, Bill, BillingRun, FeeItem, FeeStandard,
                                   LateFeeAccrual, Meter, MeterReading)
from server.disputes.models import Dispute, DisputeMessage
from server.ledger.models import Allocation, Payment, ReceiptCounter, Refund
from server.outbox import OutboxMessage
from server.owners.models import BindingCode, OwnerSession
from server.property.models import Binding, Building, Community, House, Owner
from server.reports.models import ReportSnapshot
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.schedule_state import ScheduleState
from server.staff.models import StaffApiToken, StaffCommunity, StaffUser
from server.tasks.models import AdminTask
from templates_msg.models import ReminderLog, ReminderPolicy, Subscription

# The tables of migration 0001 (scripts/regen-initial-migration.sh rebuilds it from
# these while it has not shipped).  Later migrations add their models below.
INITIAL_MODELS = [
    Community, Building, House, Owner, Binding,
    StaffUser, StaffCommunity,
    FeeItem, FeeStandard, Meter, MeterReading, BillingRun, Bill, Adjustment, LateFeeAccrual,
    PaymentOrder, OrderBill, NotifyEvent, CashClose,
    Payment, Allocation, Refund, ReceiptCounter,
    AuditLog, Alert,
]

# Migration 0002_owner_api: the owner mini-program API (issue 4).
OWNER_API_MODELS = [
    OwnerSession, BindingCode, Dispute, DisputeMessage, Subscription,
]

# Migration 0003_jobs: background jobs (issue 5): outbox, schedule state,
# reconciliation, alert deliveries.
JOBS_MODELS = [
    OutboxMessage, ScheduleState, ReconciliationRun, ReconciliationItem, AlertDelivery,
]

# Migration 0004_reminders: payment reminders by subscription message (issue 5).
REMINDER_MODELS = [
    ReminderPolicy, ReminderLog,
]

# Migration 0005_admin: staff API tokens and the progress of long staff operations (issue 6).
ADMIN_MODELS = [
    StaffApiToken, AdminTask,
]

# Migration 0009_report_snapshots: the dashboard's per-community figures of finished dates.
REPORT_MODELS = [
    ReportSnapshot,
]

ALL_MODELS = (INITIAL_MODELS + OWNER_API_MODELS + JOBS_MODELS + REMINDER_MODELS + ADMIN_MODELS
              + REPORT_MODELS)
