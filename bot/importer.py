"""`webcare import FILE`: store a historical export (JSON Lines or CSV) as mentions, without cards.

Rows are validated one by one (a bad row is reported on stderr as ``line N: errors`` and skipped;
the others are kept) and stored through `bot.pipeline.ingest(..., post_cards=False)` in batches of
`BATCH` rows, one transaction per batch. Cases are created as `imported`: no cards, no clocks.
Importing the same file again changes nothing (every row counts as a duplicate).

Formats (chosen from the extension: ``.jsonl``/``.ndjson`` and ``.csv``/``.tsv``; else ``--format``):

- **JSON Lines**: one mention per line in the mention schema (docs/CONFIGURATION.md).
- **CSV**: a header row, then one mention per row; UTF-8 (a BOM is fine), separated by ``,`` ``;``
  tab or ``|`` (detected). Columns are matched to fields case-insensitively (spaces, dots and dashes
  count as ``_``, so ``author.handle`` from `webcare export mentions` is read back), by our own name
  first, then by the aliases below; ``--map field=column`` overrides.

  =================  ===============================================================
  field              column names (our own name first, then aliases)
  =================  ===============================================================
  source             source, network, platform, netwerk, bron
  id                 id, mention_id, post_id, message_id, bericht_id
  thread_id          thread_id, thread, conversation_id, gesprek
  in_reply_to        in_reply_to, reply_to, parent_id
  venue              venue
  url                url, link, permalink, post_url
  author_id          author_id, user_id
  author_handle      author_handle, author, username, handle, user, screen_name, auteur, gebruiker
  author_name        author_name, name, display_name, naam
  author_followers   author_followers, followers, volgers
  author_verified    author_verified, verified, geverifieerd
  text               text, message, content, bericht, body, tekst, inhoud
  created_at         created_at, date, datum, published, published_at, timestamp, time, tijd
  lang               lang, language, taal
  =================  ===============================================================

  Without an id column, a row's id is a hash of its source, date, author and text (so importing
  the file again still finds the duplicates). A leading ``@`` is dropped from handles; followers
  may use thousands separators; verified accepts true/false, yes/no, ja/nee, 1/0.

Both formats: ``--source`` fills a missing source; dates are ISO-8601 (``2026-11-22T09:15:00Z``,
``2026-11-22 10:15``, ``2026-11-22``); a date without a time zone is taken in app.yaml's `timezone`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.schemas import MentionIn
from bot.triage.service import Triage

BATCH = 500
FIELDS = ("source", "id", "thread_id", "in_reply_to", "venue", "url", "author_id", "author_handle",
          "author_name", "author_followers", "author_verified", "text", "created_at", "lang")
ALIASES: dict[str, tuple[str, ...]] = {
    "source": ("network", "platform", "netwerk", "bron"),
    "id": ("mention_id", "post_id", "message_id", "bericht_id"),
    "thread_id": ("thread", "conversation_id", "gesprek"),
    "in_reply_to": ("reply_to", "parent_id"),
    "url": ("link", "permalink", "post_url"),
    "author_id": ("user_id",),
    "author_handle": ("author", "username", "handle", "user", "screen_name", "auteur", "gebruiker"),
    "author_name": ("name", "display_name", "naam"),
    "author_followers": ("followers", "volgers"),
    "author_verified": ("verified", "geverifieerd"),
    "text": ("message", "content", "bericht", "body", "tekst", "inhoud"),
    "created_at": ("date", "datum", "published", "published_at", "timestamp", "time", "tijd"),
    "lang": ("language", "taal"),
}
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv"}
SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_TRUE = frozenset({"true", "yes", "ja", "1", "y", "j", "waar"})
_FALSE = frozenset({"false", "no", "nee", "0", "n", "onwaar"})


class UsageError(Exception):
    """The command cannot start: missing file, unknown format, a --map naming no column (exit 2)."""


class ImportFailed(Exception):
    """The database refused a batch; `summary` says what was stored before (earlier batches stay)."""

    def __init__(self, summary: ImportSummary, detail: str) -> None:
        super().__init__(detail)
        self.summary = summary


@dataclass(frozen=True)
class Row:
    """One record of the file: the mention it holds, or why it was refused."""

    line: int
    mention: MentionIn | None = None
    errors: tuple[str, ...] = ()


@dataclass
class ImportSummary:
    """What an import did."""

    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """0 when something was valid (imported, or already there), else 1."""
        return 0 if self.imported + self.duplicates > 0 else 1

    def line(self) -> str:
        """The summary line: `imported N, duplicates M, rejected K`."""
        text = f"imported {self.imported}, duplicates {self.duplicates}, rejected {self.rejected}"
        return text + (" (dry run: nothing was stored)" if self.dry_run else "")


@dataclass
class Reader:
    """An opened, checked export; iterate `rows()` once."""

    path: Path
    format: str
    source: str | None
    tz: ZoneInfo
    mapping: dict[str, str] = field(default_factory=dict)

    def rows(self) -> Iterator[Row]:
        """Each record as a validated mention or a refusal, in file order."""
        if self.format == "jsonl":
            yield from _jsonl_rows(self.path, self.source, self.tz)
        else:
            yield from _csv_rows(self.path, self.source, self.tz, self.mapping)


def detect_format(path: Path, given: str | None) -> str:
    """The file's format: `--format`, else from the extension."""
    if given:
        return given
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: cannot tell the format from the extension; use --format jsonl|csv")
    return fmt


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """`--map field=column` arguments as a dict, checking the field names."""
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name = name.strip()
        if not sep or not column.strip():
            raise UsageError(f"--map {item}: expected FIELD=COLUMN")
        if name not in FIELDS:
            raise UsageError(f"--map {item}: unknown field {name!r} (fields: {', '.join(FIELDS)})")
        mapping[name] = column.strip()
    return mapping


def open_export(path: Path, *, fmt: str | None, source: str | None, mapping: Iterable[str],
                tz: ZoneInfo) -> Reader:
    """Check the arguments and the file (and a CSV's header) before anything is stored."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if source is not None and not SOURCE_PATTERN.match(source):
        raise UsageError(f"--source {source}: a lowercase network name such as forum, x, facebook")
    reader = Reader(path=path, format=detect_format(path, fmt), source=source, tz=tz,
                    mapping=parse_mapping(mapping))
    if reader.format == "csv":
        with path.open("rb") as fh:
            header = next(csv.reader(_decoded(fh, set()), delimiter=_delimiter(path)), None)
        if header is None:
            raise UsageError(f"{path}: empty file (a CSV needs a header row)")
        _columns(header, reader.mapping, source)  # raises UsageError on what cannot work
    elif reader.mapping:
        raise UsageError("--map only applies to CSV files")
    return reader


async def import_rows(rows: Iterable[Row], *, maker: async_sessionmaker[AsyncSession], channel: str,
                      dry_run: bool = False, batch: int = BATCH, errors: TextIO | None = None,
                      now: datetime | None = None, triage: Triage | None = None) -> ImportSummary:
    """Store valid rows in batches (one transaction each), report bad rows as `line N: errors`."""
    from bot.pipeline import ingest

    err = errors if errors is not None else sys.stderr
    summary = ImportSummary(dry_run=dry_run)
    at = now or utcnow()
    async with maker() as session:

        async def flush(mentions: list[MentionIn]) -> None:
            try:
                if dry_run:  # in one transaction that is rolled back at the end
                    found = await ingest(session, mentions, now=at, channel=channel, post_cards=False,
                                         triage=triage)
                else:
                    async with session.begin():
                        found = await ingest(session, mentions, now=at, channel=channel,
                                             post_cards=False, triage=triage)
            except SQLAlchemyError as exc:
                raise ImportFailed(summary, str(exc).splitlines()[0]) from exc
            summary.imported += found.accepted
            summary.duplicates += found.duplicates

        pending: list[MentionIn] = []
        for row in rows:
            if row.mention is None:
                summary.rejected += 1
                print(f"line {row.line}: {'; '.join(row.errors)}", file=err)
                continue
            pending.append(row.mention)
            if len(pending) >= batch:
                await flush(pending)
                pending = []
        if pending:
            await flush(pending)
        if dry_run:
            await session.rollback()
    return summary


# --- JSON Lines ---------------------------------------------------------------------------------


def _jsonl_rows(path: Path, source: str | None, tz: ZoneInfo) -> Iterator[Row]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                yield Row(number, errors=("not UTF-8 text",))
                continue
            if not line:
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                yield Row(number, errors=(f"not JSON: {exc}",))
                continue
            if not isinstance(data, dict):
                yield Row(number, errors=("expected a JSON object (one mention per line)",))
                continue
            if data.get("text") is None and data.get("deleted_at"):  # from `webcare export mentions`
                yield Row(number, errors=("deleted at the source and its text not kept: not imported",))
                continue
            if source and not data.get("source"):
                data["source"] = source
            if isinstance(data.get("created_at"), str):
                data["created_at"] = _with_zone(data["created_at"], tz)
            yield _validate(number, data)


# --- CSV ----------------------------------------------------------------------------------------


def _decoded(fh: Any, bad_lines: set[int]) -> Iterator[str]:
    """The file's lines as text; lines that are not UTF-8 are noted (their rows get refused)."""
    for number, raw in enumerate(fh, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            yield raw.decode("utf-8", "replace")


def _delimiter(path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    with path.open("rb") as fh:
        sample = fh.read(64 * 1024).decode("utf-8-sig", "replace")
    first = sample.splitlines()[0] if sample else ""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _norm(name: str) -> str:
    return re.sub(r"[\s.\-]+", "_", name.strip().lower())


def _columns(header: list[str], mapping: dict[str, str], source: str | None) -> dict[str, int]:
    """field -> column index; raise UsageError when a required field has no column."""
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(_norm(name), i)
    columns: dict[str, int] = {}
    for name, column in mapping.items():
        if _norm(column) not in index:
            raise UsageError(f"--map {name}={column}: the file has no column {column!r} "
                             f"(columns: {', '.join(header)})")
        columns[name] = index[_norm(column)]
    claimed = set(columns.values())
    for name in FIELDS:
        if name in columns:
            continue
        for candidate in (name, *ALIASES.get(name, ())):
            found = index.get(candidate)
            if found is not None and found not in claimed:
                columns[name] = found
                claimed.add(found)
                break
    for required in ("text", "created_at"):
        if required not in columns:
            looked = ", ".join((required, *ALIASES[required]))
            raise UsageError(f"no column for {required} (looked for: {looked}); "
                             f"use --map {required}=COLUMN (columns: {', '.join(header)})")
    if "source" not in columns and source is None:
        raise UsageError("no source column; use --source NAME (e.g. --source forum) "
                         "or --map source=COLUMN")
    return columns


def _csv_rows(path: Path, source: str | None, tz: ZoneInfo, mapping: dict[str, str]) -> Iterator[Row]:
    bad_lines: set[int] = set()
    with path.open("rb") as fh:
        reader = csv.reader(_decoded(fh, bad_lines), delimiter=_delimiter(path))
        header = next(reader)
        columns = _columns(header, mapping, source)
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if bad_lines.intersection(range(start, end + 1)):
                yield Row(start, errors=("not UTF-8 text (save the export as UTF-8)",))
                continue
            if len(record) > len(header):
                yield Row(start, errors=(f"{len(record)} columns, but the header has {len(header)}",))
                continue
            yield _validate(start, _csv_mention(record, columns, source, tz))


def _csv_mention(record: list[str], columns: dict[str, int], source: str | None,
                 tz: ZoneInfo) -> dict[str, Any]:
    def cell(name: str) -> str | None:
        i = columns.get(name)
        if i is None or i >= len(record):
            return None
        return record[i].strip() or None

    data: dict[str, Any] = {}
    data["source"] = (cell("source") or source or "").lower() or None
    for name in ("id", "thread_id", "in_reply_to", "url", "lang"):
        data[name] = cell(name)
    venue = cell("venue")
    data["venue"] = venue.lower().replace("-", "_").replace(" ", "_") if venue else None
    i = columns["text"]
    data["text"] = record[i].strip().replace("\r\n", "\n") if i < len(record) else ""
    created = cell("created_at")
    data["created_at"] = _with_zone(created, tz) if created else None
    handle = cell("author_handle")
    author = {"id": cell("author_id"), "handle": (handle.lstrip("@") or None) if handle else None,
              "name": cell("author_name"), "followers": _count(cell("author_followers")),
              "verified": _flag(cell("author_verified"))}
    data["author"] = {k: v for k, v in author.items() if v is not None}
    if "id" not in columns and data["source"]:
        basis = "\x1f".join(str(x) for x in (data["source"], created, handle, data["text"]))
        data["id"] = "import:" + hashlib.sha256(basis.encode()).hexdigest()[:32]
    return data


def _count(value: str | None) -> int | str | None:
    if value is None:
        return None
    compact = re.sub(r"[\s.,']", "", value)
    if re.fullmatch(r"\d+", compact) and (compact == value or re.fullmatch(
            r"\d{1,3}([\s.,']\d{3})+", value)):
        return int(compact)
    return value  # pydantic says what is wrong


def _flag(value: str | None) -> bool | str | None:
    if value is None:
        return None
    low = value.lower()
    return True if low in _TRUE else False if low in _FALSE else value


# --- shared -------------------------------------------------------------------------------------


def _with_zone(value: str, tz: ZoneInfo) -> str:
    """An ISO-8601 date; without a time zone it is taken in the configured zone."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return value  # pydantic says what is wrong
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.isoformat()


def _drop_nulls(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out null fields: an absent optional field is what the schema expects."""
    out = {k: v for k, v in data.items() if v is not None}
    if isinstance(out.get("author"), dict):
        out["author"] = {k: v for k, v in out["author"].items() if v is not None}
    return out


def _validate(line: int, data: dict[str, Any]) -> Row:
    try:
        return Row(line, mention=MentionIn.model_validate(_drop_nulls(data)))
    except ValidationError as exc:
        return Row(line, errors=tuple(_describe(e) for e in exc.errors()))


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    msg = str(error["msg"])
    value = error.get("input")
    if error["type"] != "missing" and isinstance(value, str | int) and len(str(value)) <= 60:
        msg += f" (got {value!r})"
    return f"{where}: {msg}" if where else msg


__all__ = ["ALIASES", "BATCH", "FIELDS", "ImportFailed", "ImportSummary", "Reader", "Row", "UsageError",
           "detect_format", "import_rows", "open_export", "parse_mapping"]
