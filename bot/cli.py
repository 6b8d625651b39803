"""The `webcare` command: serve, db upgrade, check, classify, import, export, replay, teams-package…"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.settings import ConfigError, Settings, load_env, load_settings

CheckFn = Callable[[Settings], Awaitable[list[str]]]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server (HTTP, Socket Mode, outbox dispatcher, scheduler)."""
    from aiohttp import web

    from bot import logs
    from bot.app import create_app

    settings = _settings(args)
    logs.setup(settings.env.log_level)
    missing = settings.env.slack_missing()
    if missing:
        print(
            "webcare: Slack is not connected; cards wait in the outbox until it is.\n"
            f"  set: {', '.join(missing)}\n"
            "  create the Slack app from slack-manifest.yaml (README: Connect Slack) to get them.",
            file=sys.stderr,
        )
    app = create_app(settings)
    web.run_app(app, host=settings.env.host, port=settings.env.port, print=None,
                shutdown_timeout=10)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply pending migrations to DATABASE_URL."""
    from bot.db import create_engine, upgrade

    env = load_env()

    async def run() -> None:
        engine = create_engine(env.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database is at the latest schema ({_safe_url(env.database_url)})")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def check_database(settings: Settings) -> list[str]:
    """The database answers and has no pending migrations."""
    return await check_schema(settings.env.database_url)


async def check_schema(database_url: str) -> list[str]:
    """The database at `database_url` answers and has no pending migrations."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bot.db import alembic_config, create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_heads())
    except Exception as exc:  # report, don't crash: check prints one line per problem
        return [f"database: cannot connect to {_safe_url(database_url)}: {exc}"]
    finally:
        await engine.dispose()
    head = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    if set(current) != head:
        return ["database: schema is not up to date (run `webcare db upgrade`, "
                "or `webcare serve`, which applies migrations at start)"]
    return []


def _plugin_checks(names: Sequence[str]) -> list[CheckFn]:
    checks = []
    for name in names:
        module = importlib.import_module(name)
        fn = getattr(module, "check", None)
        if fn is not None:
            checks.append(fn)
    return checks


def cmd_check(args: argparse.Namespace) -> int:
    """Validate config, database and credentials; print one line per problem."""
    from bot.app import DEFAULT_PLUGINS

    try:
        settings = _settings(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line)
        return 1

    async def run() -> list[str]:
        problems = await check_database(settings)
        for fn in _plugin_checks(DEFAULT_PLUGINS):
            problems += await fn(settings)
        return problems

    problems = asyncio.run(run())
    for line in problems:
        print(line)
    if not problems:
        print("all good")
    return 1 if problems else 0


def cmd_teams_package(args: argparse.Namespace) -> int:
    """Write the Teams app package (manifest and icons) for MICROSOFT_APP_ID."""
    env = load_env()
    if not env.microsoft_app_id:
        print("webcare: set MICROSOFT_APP_ID (the bot's app id in Azure) first", file=sys.stderr)
        return 2
    package = importlib.import_module("handlers.teams.package")
    data = package.package(app_id=env.microsoft_app_id, name=args.name, host=args.host)
    Path(args.output).write_bytes(data)
    print(f"webcare: wrote {args.output}: upload it in Teams (Apps → Manage your apps → Upload an app)")
    return 0


def cmd_rejected(args: argparse.Namespace) -> int:
    """Print the most recent refused ingest bodies (JSON Lines), newest first."""
    import json

    from sqlalchemy import select

    from bot.db import create_engine, create_sessionmaker
    from bot.models import RejectedPayload

    env = load_env()

    async def run() -> list[RejectedPayload]:
        engine = create_engine(env.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return list(await session.scalars(
                    select(RejectedPayload).order_by(RejectedPayload.id.desc()).limit(args.limit)))
        finally:
            await engine.dispose()

    for row in asyncio.run(run()):
        print(json.dumps({"id": row.id, "received_at": row.received_at.isoformat(),
                          "route": row.route, "reason": row.reason, "size": row.size,
                          "truncated": row.truncated, "body": row.body}, ensure_ascii=False))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Store a historical export (JSON Lines or CSV) as mentions, without posting cards."""
    from pathlib import Path

    from bot.db import create_engine, create_sessionmaker
    from bot.importer import ImportFailed, UsageError, import_rows, open_export

    settings = _settings(args)
    try:
        reader = open_export(Path(args.file), fmt=args.format, source=args.source,
                             mapping=args.map, tz=settings.config.tz)
    except UsageError as exc:
        print(f"webcare import: {exc}", file=sys.stderr)
        return 2
    problems = asyncio.run(check_database(settings))
    if problems:
        for line in problems:
            print(f"webcare import: {line}", file=sys.stderr)
        return 1

    from bot.triage.service import build_triage

    async def run() -> int:
        engine = create_engine(settings.env.database_url)
        try:
            summary = await import_rows(reader.rows(), maker=create_sessionmaker(engine),
                                        channel=settings.config.channels.cards, dry_run=args.dry_run,
                                        triage=build_triage(settings.config))
        except ImportFailed as exc:
            print(f"webcare import: database error: {exc}", file=sys.stderr)
            print(exc.summary.line())
            return 1
        finally:
            await engine.dispose()
        print(summary.line())
        return summary.exit_code

    return asyncio.run(run())


def _when(value: str) -> datetime:
    """An ISO-8601 date or time for --since/--until; without a zone it is UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 date (e.g. 2026-11-22 or "
                                         "2026-11-22T09:00:00+01:00)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def cmd_export_mentions(args: argparse.Namespace) -> int:
    """Write stored mentions with their case state (JSON Lines or CSV) to stdout or --output."""
    from bot.db import create_engine, create_sessionmaker
    from bot.exporter import ExportFilter, export_mentions

    env = load_env()
    problems = asyncio.run(check_schema(env.database_url))
    if problems:
        for line in problems:
            print(f"webcare export: {line}", file=sys.stderr)
        return 1
    flt = ExportFilter(since=args.since, until=args.until, author=args.author, case_ref=args.case,
                       source=args.source, evidence=args.evidence)

    async def run(out: TextIO) -> int:
        engine = create_engine(env.database_url)
        try:
            summary = await export_mentions(create_sessionmaker(engine), out, flt, fmt=args.format)
        finally:
            await engine.dispose()
        return summary.mentions

    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            count = asyncio.run(run(fh))
    else:
        count = asyncio.run(run(sys.stdout))
    print(f"exported {count} mentions", file=sys.stderr)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """Read mentions (JSON Lines) on stdin; write one triage object per line on stdout."""
    import json

    from pydantic import ValidationError

    from bot.i18n import Translator
    from bot.schemas import MentionIn
    from bot.triage.service import build_triage, explain

    settings = _settings(args)
    triage = build_triage(settings.config)
    t = Translator(settings.config.locale, settings.config.tz)
    out = sys.stdout
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        data: object = None
        try:
            data = json.loads(line)
            mention = MentionIn.model_validate(data)
        except (ValueError, ValidationError) as exc:
            ident = data.get("id") if isinstance(data, dict) else None
            message = str(exc).splitlines()[0] if str(exc) else repr(exc)
            out.write(json.dumps({"id": ident, "line": number, "error": message}, ensure_ascii=False) + "\n")
            continue
        a = triage.assess(mention)
        c, v = a.classification, a.verdict
        out.write(json.dumps({
            "id": mention.id, "language": c.language, "intent": c.intent.value,
            "sentiment": round(c.sentiment, 3), "threat": c.threat, "topics": list(c.topics),
            "decision": v.decision.value, "priority": v.priority.value,
            "needs_approval": v.needs_approval,
            "reasons": explain(t, v.reasons) + explain(t, v.approval_reasons),
        }, ensure_ascii=False) + "\n")
    return 0


def _duration(value: str) -> timedelta:
    """A duration with a unit for --tail (30s, 15m, 2h, 1d)."""
    from bot.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_replay(args: argparse.Namespace) -> int:
    """Run the pipeline over an export in simulated time, without Slack; print what it would have done."""
    import json
    from pathlib import Path

    from bot.importer import UsageError
    from bot.replay import read_export, replay

    settings = _settings(args)
    database = Path(args.database) if args.database else None
    if database is not None and database.exists():
        print(f"webcare replay: {database} exists; --database needs a new file", file=sys.stderr)
        return 2
    try:
        mentions, rejected = read_export(Path(args.file), settings)
    except UsageError as exc:
        print(f"webcare replay: {exc}", file=sys.stderr)
        return 2
    for row in rejected:
        print(f"line {row.line}: {'; '.join(row.errors)}", file=sys.stderr)
    if not mentions:
        print("webcare replay: no valid mention in the file", file=sys.stderr)
        return 1
    report = asyncio.run(replay(settings, mentions, rejected, database=database, tail=args.tail,
                                step=args.step))
    if args.html:
        from bot.replay.html import render

        Path(args.html).write_text(render(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        from bot.replay.report import summary

        print(summary(report))
        if args.html:
            print(f"charts: {args.html}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `webcare`."""
    parser = argparse.ArgumentParser(prog="webcare", description="Webcare from Slack and Teams.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the bot (applies pending migrations first)")
    serve.add_argument("--config", help="app.yaml path (default: WEBCARE_CONFIG or ./app.yaml)")
    serve.set_defaults(func=cmd_serve)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations to DATABASE_URL").set_defaults(
        func=cmd_db_upgrade)
    classify = sub.add_parser("classify", help="triage mentions: JSON Lines on stdin, results on stdout")
    classify.add_argument("--config", help="app.yaml path (topics, policy)")
    classify.set_defaults(func=cmd_classify)
    rejected = sub.add_parser("rejected", help="show recently refused ingest bodies (JSON Lines)")
    rejected.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    rejected.set_defaults(func=cmd_rejected)
    imp = sub.add_parser("import", help="store a historical export (JSONL or CSV) as mentions, "
                                        "without posting cards")
    imp.add_argument("file", help="the export: .jsonl/.ndjson or .csv/.tsv")
    imp.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file's extension")
    imp.add_argument("--source", help="source for rows without one (e.g. forum, x, facebook)")
    imp.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                     help="CSV: take FIELD from COLUMN (repeatable), e.g. --map text=Bericht")
    imp.add_argument("--dry-run", action="store_true", help="validate and count, store nothing")
    imp.add_argument("--config", help="app.yaml path (timezone of dates without one)")
    imp.set_defaults(func=cmd_import)
    export = sub.add_parser("export", help="write stored data (audits, GDPR requests, evidence)")
    export_sub = export.add_subparsers(dest="export_command", required=True)
    exp = export_sub.add_parser("mentions", help="stored mentions with their case state, one per row")
    exp.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="default: jsonl")
    exp.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    exp.add_argument("--since", type=_when, metavar="ISO", help="posted at or after (no zone: UTC)")
    exp.add_argument("--until", type=_when, metavar="ISO", help="posted before (no zone: UTC)")
    exp.add_argument("--author", metavar="HANDLE_OR_ID", help="one person's mentions (GDPR access "
                                                             "or erasure request), on any source")
    exp.add_argument("--case", metavar="REF", help="the mentions of one case")
    exp.add_argument("--source", help="one source (x, facebook, forum, ...)")
    exp.add_argument("--evidence", action="store_true",
                     help="only threats/abuse and cases with an evidence hold; adds sha256 of the text")
    exp.set_defaults(func=cmd_export_mentions)
    rep = sub.add_parser("replay", help="run the pipeline over an export in simulated time, without "
                                        "Slack: alerts, clusters, the Slack calls, the SLA load")
    rep.add_argument("file", help="the export: JSON Lines mentions with created_at (or CSV, as import)")
    rep.add_argument("--config", help="app.yaml path (surge, slack pacing, sla, triage)")
    rep.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    rep.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report with charts")
    rep.add_argument("--database", metavar="PATH", help="keep the replay's SQLite database at PATH "
                                                        "(a new file; default: a temporary one)")
    rep.add_argument("--tail", type=_duration, default=timedelta(hours=1), metavar="DURATION",
                     help="simulated time after the last mention (default 1h)")
    rep.add_argument("--step", type=_duration, metavar="DURATION",
                     help="simulated time step (default: surge.check; larger is faster and coarser)")
    rep.set_defaults(func=cmd_replay)
    pkg = sub.add_parser("teams-package", help="write the Teams app package (zip) for MICROSOFT_APP_ID")
    pkg.add_argument("--name", default="webcare", help="the organisation's name, shown in Teams")
    pkg.add_argument("--host", help="the public host name of webcare serve (validDomains)")
    pkg.add_argument("--output", default="webcare-teams.zip", metavar="FILE", help="default: webcare-teams.zip")
    pkg.set_defaults(func=cmd_teams_package)
    check = sub.add_parser("check", help="validate config, database and credentials")
    check.add_argument("--config", help="app.yaml path")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        for line in exc.problems:
            print(f"webcare: {line}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        # a file to read or write (--output, --html, an export to replay): one line, not a traceback
        print(f"webcare: {exc.filename or exc}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
