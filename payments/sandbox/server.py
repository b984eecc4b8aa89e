"""Running the sandbox: on its own port in a thread (tests) or under a prefix (demo mode)."""
from __future__ import annotations

import threading
from typing import Callable

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import WSGIRequestHandler, make_server

from payments.sandbox.app import create_sandbox_app
from payments.sandbox.state import SandboxState


class _QuietHandler(WSGIRequestHandler):
    """No access log: request lines carry secrets (``secret=``, ``access_token=``)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


def run_sandbox_in_thread(state: SandboxState | None = None, host: str = "127.0.0.1",
                          port: int = 0, **state_kwargs) -> tuple[str, SandboxState, Callable[[], None]]:
    """Serve a sandbox on ``host:port`` (0 = any free port) from a daemon thread.

    Returns ``(base_url, state, stop)``; ``base_url`` (``http://127.0.0.1:PORT``) is both
    ``WECHATPAY_API_BASE`` and ``WECHAT_API_BASE``.  ``stop()`` shuts the server and the
    callback notifier down and waits for them.
    """
    state = state or SandboxState(**state_kwargs)
    server = make_server(host, port, create_sandbox_app(state), threaded=True,
                         request_handler=_QuietHandler)
    base_url = f"http://{host}:{server.server_port}"
    state.base_url = base_url
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="wechat-sandbox", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        state.close()
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return base_url, state, stop


def mount_sandbox(app, state: SandboxState, prefix: str = "/_sandbox/wechat",
                  state_file: str | None = None) -> str:
    """Mount the sandbox inside ``app`` under ``prefix`` (demo mode); returns the prefix.

    Configure ``WECHATPAY_API_BASE`` and ``WECHAT_API_BASE`` as ``<public origin><prefix>``.
    ``state_file`` (default: the app's ``WECHAT_SANDBOX_STATE_FILE``) keeps the sandbox's
    orders, subscriptions and received messages across processes (:mod:`.persist`).
    """
    from payments.sandbox import persist

    state_file = state_file or app.config.get("WECHAT_SANDBOX_STATE_FILE")
    if state_file:
        persist.keep_in(state, state_file)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {prefix: create_sandbox_app(state)})
    app.extensions["wechat_sandbox"] = state
    return prefix
