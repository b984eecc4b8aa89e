"""Every model, in dependency order: the registry migrations are checked against."""
from payments.models import CashClose, NotifyEvent, OrderBill, PaymentOrder
from server.alerts import Alert
from server.audit import AuditLog
from server.billing.models import (Adjustment, Bill, BillingRun, FeeItem, FeeStandard,
                                   LateFeeAccrual, Meter, MeterReading)
from server.ledger.models import Allocation, Payment, ReceiptCounter, Refund
from server.property.models import Binding, Building, Community, House, Owner
from server.staff.models import StaffCommunity, StaffUser

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

ALL_MODELS = INITIAL_MODELS + []
