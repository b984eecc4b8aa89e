"""Read-only pages of the sandbox for people: what the simulated WeChat received.

``GET /messages`` lists the subscription messages delivered to users (newest
first, at most ``LIMIT``), with each field's value, so that the demo
(``/_sandbox/wechat/messages``) shows the reminders, receipts, dispute answers
and staff alerts that were sent; ``?touser=`` keeps one recipient.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, render_template_string, request

from payments.sandbox.ledger import CST

bp = Blueprint("sandbox_pages", __name__)
LIMIT = 500

MESSAGES_PAGE = """<!doctype html><html lang="zh"><meta charset="utf-8"><title>订阅消息 · 微信沙箱</title>
<body style="font-family:sans-serif;margin:2em">
<h1>微信沙箱收到的订阅消息</h1>
<p>共 {{ total }} 条{% if touser %}（接收者 {{ touser }}）{% endif %}，最新的在前，最多显示 {{ limit }} 条。</p>
{% if rows %}
<table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>msgid</th><th>时间</th><th>接收者 openid</th><th>模板</th><th>内容</th><th>跳转页面</th></tr>
{% for m in rows %}<tr>
<td>{{ m.msgid }}</td><td>{{ m.when }}</td><td><a href="?touser={{ m.touser }}">{{ m.touser }}</a></td>
<td>{{ m.template_id }}</td>
<td>{% for key, value in m.fields %}<div><code>{{ key }}</code> {{ value }}</div>{% endfor %}</td>
<td>{{ m.page }}</td></tr>{% endfor %}
</table>
{% else %}<p>还没有收到订阅消息。</p>{% endif %}
</body></html>"""


def _row(message: dict) -> dict:
    data = message.get("data") or {}
    at = message.get("at")
    return {"msgid": message.get("msgid"), "touser": message.get("touser", ""),
            "template_id": message.get("template_id", ""), "page": message.get("page", ""),
            "when": dt.datetime.fromtimestamp(at, CST).strftime("%Y-%m-%d %H:%M:%S") if at else "",
            "fields": [(k, v.get("value") if isinstance(v, dict) else v) for k, v in data.items()]}


@bp.get("/messages")
def messages():
    state = current_app.config["SANDBOX_STATE"]
    touser = request.args.get("touser", "")
    with state.lock:
        sent = [m for m in state.mp.sent_messages if not touser or m.get("touser") == touser]
    rows = [_row(m) for m in reversed(sent[-LIMIT:])]
    return render_template_string(MESSAGES_PAGE, rows=rows, total=len(sent), touser=touser, limit=LIMIT)
