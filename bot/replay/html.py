"""`webcare replay --html OUT`: the report as one self-contained HTML page with inline SVG charts.

No JavaScript, no external CSS or fonts: the file can be mailed or attached to an incident review.
Charts: mentions and Slack calls per minute over the whole run (alerts marked), the same around
the first alert, the biggest clusters, and response deadlines due per hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

W, H, PAD = 900, 220, 40
LEVEL_COLOURS = {"watch": "#d9a400", "alert": "#e06000", "crisis": "#c00020"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:960px;
color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:1.5em}.sw{display:inline-block;width:12px;height:12px;
vertical-align:middle;margin-right:4px}svg{display:block;margin:.5em 0}.muted{color:#777}
"""


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ticks(start: datetime, minutes: int, every: int) -> list[tuple[int, str]]:
    return [(m, (start + timedelta(minutes=m)).strftime("%H:%M")) for m in range(0, minutes, every)]


def series_chart(
    start: datetime, lines: list[tuple[list[int], str, str]], alerts: list[dict[str, Any]], *, offset: int = 0
) -> str:
    """Per-minute counts as lines, with alert markers; `offset` is the first minute shown."""
    n = max((len(v) for v, _, _ in lines), default=0)
    if n == 0:
        return "<p class=muted>no data</p>"
    top = max(1, *(max(v, default=0) for v, _, _ in lines))
    x = lambda m: PAD + (W - 2 * PAD) * m / max(1, n - 1)  # noqa: E731
    y = lambda c: H - PAD + 10 - (H - 2 * PAD) * c / top  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'role="img" font-size="11">',
        f'<line x1="{PAD}" y1="{y(0)}" x2="{W - PAD}" y2="{y(0)}" stroke="#999"/>',
        f'<text x="4" y="{y(top) + 4}">{top}</text><text x="4" y="{y(0)}">0</text>',
    ]
    every = max(1, n // 8)
    every = next((s for s in (1, 5, 10, 15, 30, 60, 120, 180, 240, 360) if s >= every), every)
    for m, label in _ticks(start + timedelta(minutes=offset), n, every):
        parts.append(f'<text x="{x(m):.1f}" y="{H - 8}" text-anchor="middle" fill="#555">{label}</text>')
    for a in alerts:
        at = (_parse(a["at"]) - start).total_seconds() / 60 - offset
        if 0 <= at <= n - 1:
            colour = LEVEL_COLOURS.get(a["level"], "#c00")
            parts.append(
                f'<line x1="{x(at):.1f}" y1="{PAD - 20}" x2="{x(at):.1f}" y2="{y(0)}" stroke="{colour}" '
                f'stroke-dasharray="4 3"><title>{escape(a["level"])} {escape(a["key"])} '
                f"{escape(a['at'])}</title></line>"
            )
    for values, colour, name in lines:
        points = " ".join(f"{x(m):.1f},{y(c):.1f}" for m, c in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(items: list[tuple[str, int, str]], *, width: int = W) -> str:
    """Horizontal bars: (label, value, colour)."""
    if not items:
        return "<p class=muted>none</p>"
    top = max(v for _, v, _ in items) or 1
    row, label_w = 22, 380
    h = row * len(items) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
        'role="img" font-size="12">'
    ]
    for i, (label, value, colour) in enumerate(items):
        y = 5 + i * row
        bw = (width - label_w - 60) * value / top
        short = label if len(label) <= 60 else label[:59] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{bw:.1f}" height="{row - 6}" fill="{colour}">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + bw + 4:.1f}" y="{y + 14}">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[tuple[str, Any]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
        + "</table>"
    )


def render(report: dict[str, Any]) -> str:
    """The whole HTML page."""
    m, s, sla, tl, run = (report[k] for k in ("mentions", "slack_calls", "sla", "timeline", "run"))
    alerts = report["alerts"]
    body = [
        f"<h1>Replay: {m['valid']} mentions, {len(alerts)} alerts, {s['sent_total']} Slack calls</h1>",
        f"<p class=muted>{escape(str(m['first_at']))} – {escape(str(m['last_at']))}; simulated "
        f"{run['simulated_seconds'] / 3600:.1f} h in {run['wall_seconds']:.0f} s</p>",
    ]
    legend = (
        '<p class=legend><span><i class=sw style="background:#2a6fdb"></i>mentions per minute</span>'
        '<span><i class=sw style="background:#2c9a4b"></i>Slack calls per minute</span>'
        + "".join(
            f'<span><i class=sw style="background:{c}"></i>{lvl}</span>' for lvl, c in LEVEL_COLOURS.items()
        )
        + "</p>"
    )
    if tl["start"]:
        start = _parse(tl["start"])
        body += [
            "<h2>Mentions and Slack calls per minute</h2>",
            legend,
            series_chart(
                start,
                [(tl["mentions"], "#2a6fdb", "mentions"), (tl["slack"], "#2c9a4b", "Slack calls")],
                alerts,
            ),
        ]
        if alerts:
            first = int((_parse(alerts[0]["at"]) - start).total_seconds() // 60)
            lo, hi = max(0, first - 30), min(tl["minutes"], first + 90)
            body += [
                "<h2>Around the first alert</h2>",
                series_chart(
                    start,
                    [
                        (tl["mentions"][lo:hi], "#2a6fdb", "mentions"),
                        (tl["slack"][lo:hi], "#2c9a4b", "Slack calls"),
                    ],
                    alerts,
                    offset=lo,
                ),
            ]
    body.append("<h2>Alerts</h2>")
    if alerts:
        body.append(
            "<table><tr><th>at</th><th>level</th><th>severity</th><th>scope</th><th>messages</th>"
            "<th>authors</th><th>threats</th><th>resolved</th></tr>"
            + "".join(
                f"<tr><td>{escape(a['at'])}</td><td>{escape(a['level'])}</td><td>{escape(a['severity'])}</td>"
                f"<td>{escape(a.get('label') or a['key'])}</td><td class=n>{a['messages']}</td>"
                f"<td class=n>{a['authors']}</td><td class=n>{a['threats']}</td>"
                f"<td>{escape(a.get('resolved_at') or '-')}</td></tr>"
                for a in alerts
            )
            + "</table>"
        )
    else:
        body.append("<p>none</p>")
    for c in report["clusters"]:
        body += [
            f"<h2>Clusters of {escape(c.get('label') or c['surge'])}</h2>",
            f"<p>{c['clusters']} clusters, {c['messages']} messages, {c['threats']} threats</p>",
            bar_chart([(t["sample"], t["count"], "#c00020" if t["threats"] else "#7a5cc0") for t in c["top"]]),
        ]
    body += [
        "<h2>Slack calls</h2>",
        f"<p>{s['sent_total']} calls made within the run for {m['valid']} mentions; {s['queued_total']} "
        f"queued, longest wait of a post {s['max_post_wait_seconds']:.0f} s.</p>",
        bar_chart([(k, v, "#2c9a4b") for k, v in s["by_what"].items()]),
        _table(
            [
                ("skipped (superseded or clustered)", s["skipped"] or "none"),
                ("still waiting at the end", s["pending_at_end"] or "none"),
                ("by channel", s["by_channel"]),
            ]
        ),
        "<h2>Response deadlines (SLA)</h2>",
        f"<p>{sla['clocks_started']} clocks started; with nobody answering, {sla['late_at_end']} are late "
        f"by the end of the run.</p>",
        bar_chart([(d["hour"], d["due"], "#e06000") for d in sla["due_per_hour"]]),
        "<h2>Mentions</h2>",
        _table(
            [
                ("valid", m["valid"]),
                ("stored", m["stored"]),
                ("duplicates", m["duplicates"]),
                ("rejected lines", m["rejected"]),
                ("threats", m["threats"]),
                ("negative", m["negative"]),
                ("by source", m["by_source"]),
                ("cases", m["cases_by_status"]),
            ]
        ),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>webcare replay</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
