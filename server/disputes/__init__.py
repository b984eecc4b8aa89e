"""Disputes (费用异议): an owner's question on a bill, the conversation with
staff, and the hold it puts on the bill while it is open."""
