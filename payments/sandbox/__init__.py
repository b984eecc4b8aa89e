"""A simulator of WeChat Pay API v3 and the mini-program server APIs.

    from payments.sandbox import run_sandbox_in_thread
    base_url, state, stop = run_sandbox_in_thread()
    state.register_merchant_key(merchant_serial, merchant_public_key_pem)
    ...
    stop()

See :mod:`payments.sandbox.app` for the routes and :class:`SandboxState` for
keys, faults, orders, callbacks and mini-program helpers.
"""
from payments.sandbox.app import create_sandbox_app
from payments.sandbox.ledger import PayFailed, SandboxApiError
from payments.sandbox.notifier import RETRY_SCHEDULE
from payments.sandbox.server import mount_sandbox, run_sandbox_in_thread
from payments.sandbox.state import Faults, SandboxState

__all__ = ["create_sandbox_app", "run_sandbox_in_thread", "mount_sandbox", "SandboxState", "Faults",
           "SandboxApiError", "PayFailed", "RETRY_SCHEDULE"]
