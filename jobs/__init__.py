"""Background jobs on RQ: the only package that imports ``rq``.

- ``jobs.core``: the ``@job(queue, timeout)`` decorator, deterministic job ids,
  the one entry point RQ runs, the job-id log stamp, failure alerts;
- ``jobs.backends``: RQ on Redis, or (``REDIS_URL`` unset) a thread pool in
  this process, or inline;
- ``jobs.schedule`` (the schedule as data) and ``jobs.scheduler`` (the single
  scheduler that fires it and relays the outbox);
- job modules: ``billing``, ``payments`` (janitor), ``outbox``,
  ``notifications``, ``reconciliation``, ``alerting``;
- ``jobs.cli``: ``wuyepay worker|scheduler|jobs|reconcile|alerts|late-fees``.

Job functions are plain functions of ids and values that do their domain's
work through its services; running one twice changes nothing the second time.
"""
from __future__ import annotations

from jobs.core import job

__all__ = ["job", "init_app"]


def init_app(app) -> None:
    """Give the web app its job backend.  Outside tests, also hand WeChat callbacks
    to a job once stored (``payments.views`` looks for the dispatcher) and, in
    embedded mode (no ``REDIS_URL``), start the in-process scheduler thread."""
    from jobs import backends, core, runtime
    from server import counters

    config = app.extensions["wuyepay_config"]
    runtime.configure(config)
    counters.configure(config.REDIS_URL)
    # Short timeouts: a request that enqueues must not hang on an unreachable Redis.
    backend = backends.backend_for(config.REDIS_URL, connect_timeout=0.5, timeout=2)
    backends.use_backend(backend)
    app.extensions["wuyepay_jobs"] = backend
    core.install_log_stamp()
    if config.TESTING:
        return
    from jobs.payments import dispatch_callback

    core.load_all()
    app.extensions["wechatpay_notify_dispatch"] = dispatch_callback
    if not config.REDIS_URL:
        from jobs.scheduler import start_embedded

        app.extensions["wuyepay_scheduler"] = start_embedded(config, backend)
