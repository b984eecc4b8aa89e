"""Task handlers of the operations pages (run as jobs through ``server.tasks``).

- ``reconcile``: download and reconcile one day's WeChat Pay trade bill with the
  process's WeChat Pay client (``payments.gateway.client_for`` of the configuration);
- ``reminder_campaign``: a manual reminder campaign through the same ``deliver``
  path as the scheduled reminders (quota, at most once per bill/owner/day, quiet hours).

Both are idempotent: reconciling a date again adds nothing already found, and a
campaign run again sends nothing already sent under the day's campaign stage.
"""
from __future__ import annotations

import datetime as dt

from server import tasks

RECONCILE = "reconcile"
CAMPAIGN = "reminder_campaign"


@tasks.handler(RECONCILE)
def reconcile(task, progress) -> dict:
    from jobs import runtime
    from server.reconciliation import service

    progress.total(1)
    run = service.reconcile_date(dt.date.fromisoformat(task.params["bill_date"]),
                                 runtime.wechat_client())
    progress.advance()
    return {"run_id": run.id, "bill_date": run.bill_date.isoformat(), "rows": run.remote_rows,
            "differences": run.differences, "summary_ok": run.summary_ok}


@tasks.handler(CAMPAIGN)
def campaign(task, progress) -> dict:
    from jobs import runtime
    from jobs.reminders import mp_client
    from templates_msg import reminders

    flt = reminders.CampaignFilter.from_params(task.params["filter"])
    counts = reminders.send_campaign(mp_client(), flt, config=runtime.config(), progress=progress)
    return {"counts": counts, "sent": counts.get("sent", 0)}
