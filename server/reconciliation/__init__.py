"""Daily reconciliation of WeChat Pay's trade bill against our ledger (R12)."""
