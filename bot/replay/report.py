"""What a replay found, as one JSON-ready dict (`webcare replay --json`) and as a text summary.

Keys: `run` (simulated span, step, wall time), `mentions` (read, stored, rejected lines, by source,
threats, duplicates), `alerts` (each raise or level lift: `{at, scope, key, level, severity, ...}`,
times in ISO-8601), `clusters` (per surge: its near-duplicate clusters, biggest first),
`slack_calls` (outbox rows queued by kind, and what the dispatcher actually sent within the run at
Slack's pace, per method and channel, with the longest wait of a post), `sla` (response clocks
started, due per hour, late by the end of the run when nobody answers) and `timeline` (per minute:
mentions created and Slack calls made, for charts).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.importer import Row
from bot.kinds import MESSAGE, SURGE_MESSAGE
from bot.models import Case, CaseStatus, Clock, Mention, OutboxItem, OutboxStatus, Surge, SurgeCluster
from bot.replay.sim import Simulation
from bot.schemas import MentionIn
from bot.services.surges import LEVELS

TOP_CLUSTERS = 10
MAX_REJECTED = 50
MINUTE = timedelta(minutes=1)
LADDER = ("_remind", "_due", "_escalated")
"""Events of deadline rungs: nobody answers in a replay, so every ladder runs to its end."""


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def build(
    sim: Simulation, mentions: list[MentionIn], rejected: list[Row], *, wall_seconds: float
) -> dict[str, Any]:
    """The whole report of a finished simulation."""
    async with sim.rt.maker() as session:
        surges = {s.key: s for s in await session.scalars(select(Surge).order_by(Surge.id))}
        clusters = list(await session.scalars(select(SurgeCluster).order_by(SurgeCluster.count.desc())))
        outbox = list(
            await session.execute(
                select(
                    OutboxItem.kind,
                    OutboxItem.lane,
                    OutboxItem.status,
                    OutboxItem.created_at,
                    OutboxItem.finished_at,
                    OutboxItem.payload,
                )
            )
        )
        clocks = list(await session.execute(select(Clock.kind, Clock.due_at, Clock.stopped_at)))
        threats = await session.scalar(select(func.count()).select_from(Mention).where(Mention.threat))
        negative = await session.scalar(select(func.count()).select_from(Mention).where(Mention.sentiment < 0))
        statuses = dict(list(await session.execute(select(Case.status, func.count()).group_by(Case.status))))  # type: ignore[arg-type]
    end = sim.end or sim.now
    return {
        "run": {
            "start": iso(sim.start),
            "end": iso(end),
            "step_seconds": sim.step.total_seconds(),
            "simulated_seconds": (end - sim.start).total_seconds() if sim.start else 0,
            "wall_seconds": round(wall_seconds, 2),
        },
        "mentions": _mentions(sim, mentions, rejected, int(threats or 0), int(negative or 0), statuses),
        "alerts": _alerts(sim, surges),
        "clusters": _clusters(surges, clusters),
        "slack_calls": _slack_calls(sim, outbox, end),
        "sla": _sla(clocks, outbox, end),
        "timeline": _timeline(sim, mentions, end),
    }


def _mentions(
    sim: Simulation,
    mentions: list[MentionIn],
    rejected: list[Row],
    threats: int,
    negative: int,
    statuses: dict[str, int],
) -> dict[str, Any]:
    got = sim.ingested
    return {
        "total": len(mentions) + len(rejected),
        "valid": len(mentions),
        "stored": got.accepted,
        "duplicates": got.duplicates,
        "rejected": len(rejected),
        "rejected_lines": [{"line": r.line, "errors": list(r.errors)} for r in rejected[:MAX_REJECTED]],
        "by_source": dict(sorted(got.by_source.items(), key=lambda kv: -kv[1])),
        "threats": threats,
        "negative": negative,
        "first_at": iso(mentions[0].created_at) if mentions else None,
        "last_at": iso(mentions[-1].created_at) if mentions else None,
        "cases": got.new_cases,
        "cases_by_status": dict(sorted(statuses.items())),
        "clustered_cases": statuses.get(CaseStatus.CLUSTERED.value, 0),
    }


def _alerts(sim: Simulation, surges: dict[str, Surge]) -> list[dict[str, Any]]:
    """Each raise and each lift to a higher level, at the simulated time the bot raised it."""
    out: list[dict[str, Any]] = []
    reached: dict[str, int] = {}
    for seen in sim.events:
        ev = seen.event
        if ev.state == "resolved":
            reached.pop(ev.key, None)
            continue
        if LEVELS[ev.level] <= reached.get(ev.key, -1):
            continue
        reached[ev.key] = LEVELS[ev.level]
        surge = surges.get(ev.key)
        out.append(
            {
                "at": iso(seen.at),
                "scope": ev.scope,
                "key": ev.key,
                "level": ev.level,
                "severity": ev.severity,
                "score": ev.score,
                "started_at": iso(ev.started_at),
                "messages": ev.messages,
                "authors": ev.authors,
                "negative": ev.negative,
                "threats": ev.threats,
                "rate_per_hour": round(ev.rate_per_hour, 1),
                "expected_per_hour": round(ev.expected_per_hour, 1),
                "label": surge.label if surge else None,
                "resolved_at": iso(surge.resolved_at) if surge else None,
            }
        )
    return out


def _clusters(surges: dict[str, Surge], clusters: list[SurgeCluster]) -> list[dict[str, Any]]:
    by_surge: dict[int, list[SurgeCluster]] = defaultdict(list)
    for c in clusters:
        by_surge[c.surge_id].append(c)
    out = []
    for surge in surges.values():
        mine = by_surge.get(surge.id, [])
        if not mine:
            continue
        out.append(
            {
                "surge": surge.key,
                "label": surge.label,
                "level": surge.level,
                "clusters": len(mine),
                "messages": sum(c.count for c in mine),
                "threats": sum(c.threats for c in mine),
                "top": [
                    {
                        "count": c.count,
                        "sample": c.sample[:280],
                        "words": list(c.words or []),
                        "threats": c.threats,
                        "negative": c.negative,
                        "first_at": iso(c.first_at),
                        "last_at": iso(c.last_at),
                    }
                    for c in mine[:TOP_CLUSTERS]
                ],
            }
        )
    return out


def _slack_calls(sim: Simulation, outbox: list[Any], end: datetime) -> dict[str, Any]:
    queued: Counter[str] = Counter()
    status: dict[str, Counter[str]] = defaultdict(Counter)
    waits: dict[str, float] = defaultdict(float)
    backlog: Counter[str] = Counter()
    for kind, lane, state, created, finished, _ in outbox:
        queued[kind] += 1
        status[state][kind] += 1
        if not lane.startswith("chat.post:"):
            continue
        channel = lane.partition(":")[2]
        if state == OutboxStatus.DONE.value and finished is not None:
            waits[channel] = max(waits[channel], (_aware(finished) - _aware(created)).total_seconds())
        elif state in (OutboxStatus.PENDING.value, OutboxStatus.INFLIGHT.value):
            backlog[channel] += 1
            waits[channel] = max(waits[channel], (end - _aware(created)).total_seconds())
    methods: Counter[str] = Counter(c.method for c in sim.recorder.calls)
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    for c in sim.recorder.calls:
        channels[c.channel][c.method] += 1
    what: Counter[str] = Counter(c.detail.partition(":")[0] + ":" + c.method for c in sim.recorder.calls)
    ladder = sum(
        1
        for c in sim.recorder.calls
        if c.detail.startswith(("note:", "message:")) and c.detail.endswith(LADDER)
    )
    return {
        "queued": dict(sorted(queued.items())),
        "queued_total": sum(queued.values()),
        "sent": dict(sorted(status[OutboxStatus.DONE.value].items())),
        "sent_total": len(sim.recorder.calls),
        "skipped": dict(sorted(status[OutboxStatus.SKIPPED.value].items())),
        "pending_at_end": dict(
            sorted((status[OutboxStatus.PENDING.value] + status[OutboxStatus.INFLIGHT.value]).items())
        ),
        "failed": dict(sorted(status[OutboxStatus.DEAD.value].items())),
        "by_method": dict(sorted(methods.items())),
        "by_what": dict(sorted(what.items())),
        "deadline_ladder": ladder,
        "by_channel": {ch: dict(sorted(m.items())) for ch, m in sorted(channels.items())},
        "max_post_wait_seconds": round(max(waits.values(), default=0.0), 1),
        "post_wait_seconds": {ch: round(w, 1) for ch, w in sorted(waits.items())},
        "post_backlog_at_end": dict(sorted(backlog.items())),
    }


def _sla(clocks: list[Any], outbox: list[Any], end: datetime) -> dict[str, Any]:
    started: Counter[str] = Counter(kind for kind, _, _ in clocks)
    per_hour: Counter[datetime] = Counter()
    late = open_ = 0
    for _kind, due, stopped in clocks:
        due = _aware(due)
        per_hour[due.replace(minute=0, second=0, microsecond=0)] += 1
        if stopped is None:
            open_ += 1
            late += due < end
    nudges: Counter[str] = Counter(
        str(payload.get("event")) for kind, _, _, _, _, payload in outbox if kind in (MESSAGE, SURGE_MESSAGE)
    )
    peak = max(per_hour.items(), key=lambda kv: kv[1], default=None)
    return {
        "clocks_started": sum(started.values()),
        "by_kind": dict(sorted(started.items())),
        "open_at_end": open_,
        "late_at_end": late,
        "due_per_hour": [{"hour": iso(h), "due": n} for h, n in sorted(per_hour.items())],
        "peak_due_per_hour": {"hour": iso(peak[0]), "due": peak[1]} if peak else None,
        "messages_to_people": dict(sorted(nudges.items())),
    }


def _timeline(sim: Simulation, mentions: list[MentionIn], end: datetime) -> dict[str, Any]:
    if not mentions or sim.start is None:
        return {"start": None, "minutes": 0, "mentions": [], "slack": []}
    start = sim.start.replace(second=0, microsecond=0)
    n = int((end - start) / MINUTE) + 1
    made = [0] * n
    sent = [0] * n
    for m in mentions:
        made[min(n - 1, max(0, int((m.created_at - start) / MINUTE)))] += 1
    for c in sim.recorder.calls:
        sent[min(n - 1, max(0, int((c.at - start) / MINUTE)))] += 1
    return {"start": iso(start), "minutes": n, "mentions": made, "slack": sent}


def summary(report: dict[str, Any]) -> str:
    """The report as a few lines of text."""
    m, s, sla, run = report["mentions"], report["slack_calls"], report["sla"], report["run"]
    lines = [
        f"replayed {m['valid']} mentions from {m['first_at']} to {m['last_at']} "
        f"({run['simulated_seconds'] / 3600:.1f} h simulated in {run['wall_seconds']:.1f} s)",
        f"  stored {m['stored']}, duplicates {m['duplicates']}, rejected lines {m['rejected']}, "
        f"threats {m['threats']}, negative {m['negative']}",
        "  by source: " + ", ".join(f"{k} {v}" for k, v in m["by_source"].items()),
        f"  cases {m['cases']} (" + ", ".join(f"{k} {v}" for k, v in m["cases_by_status"].items()) + ")",
        f"alerts: {len(report['alerts'])}",
    ]
    for a in report["alerts"]:
        label = f" - {a['label']}" if a.get("label") else ""
        lines.append(
            f"  {a['at']}  {a['level']:<6} {a['severity']:<8} {a['key']}{label[:70]}"
            f"  ({a['messages']} messages, {a['authors']} authors, {a['threats']} threats)"
        )
    for c in report["clusters"]:
        lines.append(
            f"clusters of {c['surge']}: {c['clusters']} clusters, {c['messages']} messages, "
            f"{c['threats']} threats"
        )
        for top in c["top"][:5]:
            lines.append(f"  {top['count']:>5}  {top['sample'][:90]}")
    lines += [
        f"slack calls: {s['sent_total']} made within the run, {s['queued_total']} queued "
        f"({m['valid']} mentions)",
        "  made: " + ", ".join(f"{k} {v}" for k, v in s["by_what"].items()),
        f"  of which deadline reminders and escalations (nobody answers in a replay): {s['deadline_ladder']} "
        "messages, plus the card updates they cause",
        "  skipped (superseded, or taken into clusters): "
        + (", ".join(f"{k} {v}" for k, v in s["skipped"].items()) or "none"),
        "  still waiting at the end: "
        + (", ".join(f"{k} {v}" for k, v in s["pending_at_end"].items()) or "none"),
        f"  longest wait of a post: {s['max_post_wait_seconds']:.0f} s",
        f"sla: {sla['clocks_started']} clocks started; with no replies {sla['late_at_end']} late by the "
        f"end of the run, {sla['open_at_end']} open",
    ]
    if sla["peak_due_per_hour"]:
        peak = sla["peak_due_per_hour"]
        lines.append(f"  busiest hour: {peak['due']} deadlines due in the hour from {peak['hour']}")
    return "\n".join(lines)
