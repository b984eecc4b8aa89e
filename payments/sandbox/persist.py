"""Keeping a mounted sandbox's memory in a file (demo mode only).

The demo talks to the sandbox in ``wuyepay demo`` and again in ``wuyepay
serve``: two processes.  So that the served sandbox still knows the demo's
orders (queries, the trade bill), the owners' remaining subscriptions and the
subscription messages it received (``/messages``), :func:`save` writes them
as JSON after every change made over HTTP, and :func:`load` reads them back.
Keys, faults, tokens and callbacks are not kept.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from payments.sandbox.ledger import Order

log = logging.getLogger(__name__)
VERSION = 1


def snapshot(state) -> dict:
    with state.lock:
        return {
            "version": VERSION,
            "orders": [{"out_trade_no": o.out_trade_no, "request": o.request, "prepay_id": o.prepay_id,
                        "created_at": o.created_at, "trade_state": o.trade_state,
                        "transaction_id": o.transaction_id, "success_time": o.success_time,
                        "bank_type": o.bank_type} for o in state.ledger.orders.values()],
            "subscriptions": [[openid, template, left]
                              for (openid, template), left in state.mp.subscriptions.items()],
            "sent_messages": list(state.mp.sent_messages),
        }


def save(state, path: str | Path) -> None:
    """Write the state atomically (a temporary file renamed over the old one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with state.lock:            # one writer at a time, so an older snapshot never wins
        tmp.write_text(json.dumps(snapshot(state), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)


def load(state, path: str | Path) -> bool:
    """Read a saved state into ``state``; False when there is none (or it is unreadable)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        log.warning("sandbox state %s unreadable, starting empty: %s", path, exc)
        return False
    with state.lock:
        for row in data.get("orders", []):
            order = Order(**row)
            state.ledger.orders[order.out_trade_no] = order
            state.ledger.by_prepay[order.prepay_id] = order
        for openid, template, left in data.get("subscriptions", []):
            state.mp.subscriptions[(openid, template)] = int(left)
        state.mp.sent_messages[:] = data.get("sent_messages", [])
    return True


def keep_in(state, path: str | Path) -> None:
    """Load ``path`` now and save to it after every change made over HTTP."""
    load(state, path)
    state.persist_path = str(path)
