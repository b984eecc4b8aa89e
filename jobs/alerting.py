"""The alert check job: the rules of ``server.alert_rules``, the queues' failed
jobs, the signature-failure counter, then delivery to the staff webhook and,
as outbox rows, subscription messages to the staff openids."""
from __future__ import annotations

import logging

from jobs import core, runtime
from jobs.backends import RedisBackend, current_backend
from jobs.core import job
from server import alert_delivery, alert_rules, counters
from server.alerts import Severity
from server.timeutil import utcnow

log = logging.getLogger(__name__)


def failed_jobs(backend=None) -> alert_rules.Finding | None:
    """RQ's FailedJobRegistry of any queue is not empty (jobs out of retries)."""
    backend = backend or current_backend()
    if not isinstance(backend, RedisBackend):
        return None                  # embedded mode: each failure already raised its alert
    from rq.registry import FailedJobRegistry

    failed = {}
    for name in core.QUEUES:
        registry = FailedJobRegistry(name, connection=backend.connection)
        ids = registry.get_job_ids()
        if ids:
            failed[name] = ids[:alert_rules.SHOWN]
    if not failed:
        return None
    total = sum(len(v) for v in failed.values())
    return alert_rules.Finding("jobs_failed", f"{total} 个后台任务重试后仍失败，需人工处理",
                               Severity.CRITICAL, {"queues": failed})


def check_all(now=None, backend=None) -> list[alert_rules.Finding]:
    config = runtime.config()
    findings = alert_rules.evaluate(
        now or utcnow(), signature_failure_count=counters.signature_failures().total(),
        signature_failure_threshold=config.SIGNATURE_FAILURE_ALERT_THRESHOLD)
    jobs_finding = failed_jobs(backend)
    if jobs_finding is not None:
        findings.append(jobs_finding)
    return findings


@job("notifications", timeout=120)
def check(fire_at: str) -> dict:
    findings = check_all()
    alert_rules.raise_findings(findings)
    if findings:
        log.warning("alert rules fired: %s", ", ".join(f.kind for f in findings))
    config = runtime.config()
    delivered = alert_delivery.deliver_pending(config.ALERT_WEBHOOK_URL)
    queued = alert_delivery.queue_staff_messages(alert_delivery.staff_openids(config.ALERT_STAFF_OPENIDS))
    return {"fired": [f.kind for f in findings], "delivered": delivered, "staff_messages": queued}
