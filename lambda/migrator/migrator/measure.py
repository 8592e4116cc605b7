"""What each migration did to a rehearsal's copy, sampled from inside the engine's own session.

The engine sends a batch's files in one pipeline and reads no answers of its own mid-batch, and another session
cannot see an uncommitted transaction's new relfilenodes. So the rehearsal adds small `DO` statements to each
file: one before its first statement, one after each statement (files of up to `STEP_SAMPLES_UP_TO` statements;
larger ones only at their end) and one at its end. Each raises a NOTICE carrying the server's clock, the WAL insert
position, the session's granted locks on the tables that existed before, and (at a file's start and end) those
tables' relfilenodes and the database's size. Notices are not transactional: a rolled-back batch still reports
what it reached. pg_locks records no grant time, so a lock counts as held from the sample before the statement
that took it to the first sample (or the end of the run) that no longer sees it: an upper bound by one statement.

A no-transaction file's statements commit one by one, so a sample after a statement finds its locks gone: while
such a file runs, a second session polls the engine session's locks every `POLL_S` (`LockPoll`), and its locks
are those the poll saw, each held for its longest unbroken stretch, from the poll before it to the poll after it
(on a busy host the polls come later than `POLL_S`, and the bound widens with them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import psycopg

from migrator.files import Migration
from migrator.sqlsplit import Statement, split_statements

MARK = "migrator-rehearsal-sample "
POLL_S = 0.05
STEP_SAMPLES_UP_TO = 200  # statements; a 1.5M-row data file would otherwise run twice as many statements

# Relations whose locks and storage are reported: what the application reads and writes (tables, partitioned
# tables, materialized views), outside the system's and the migrator's own schemas.
_EXISTING = b"""
SELECT c.oid::int8, CASE WHEN n.nspname = %s THEN c.relname::text ELSE n.nspname || '.' || c.relname END
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm') AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'migrator')
"""


def existing_tables(conn: psycopg.Connection, live_schema: str) -> dict[int, str]:
    """{oid: name} of the tables before the batch; names in the live schema go unqualified (`big`)."""
    return {int(oid): str(name) for oid, name in conn.execute(_EXISTING, (live_schema,)).fetchall()}


def sample_sql(version: str, kind: str, oids: Iterable[int]) -> str:
    """One sample: `kind` is "start", "step" or "end"; start and end also read relfilenodes and the size."""
    array = "'{" + ",".join(str(o) for o in sorted(oids)) + "}'::pg_catalog.oid[]"
    storage = kind != "step"
    nodes = (
        f"(SELECT pg_catalog.json_object_agg(o, pg_catalog.pg_relation_filenode(o)) FROM pg_catalog.unnest({array}) o)"
        if storage
        else "NULL"
    )
    size = "pg_catalog.pg_database_size(pg_catalog.current_database())" if storage else "NULL"
    return f"""DO $migrator_rehearsal$
DECLARE sample pg_catalog.text; shown pg_catalog.text := pg_catalog.current_setting('client_min_messages');
BEGIN
  SELECT pg_catalog.json_build_object(
    'file', '{version}', 'kind', '{kind}',
    'clock', pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()),
    'wal', pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), '0/0'),
    'size', {size}, 'nodes', {nodes},
    'locks', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(l.relation::pg_catalog.int8, l.mode))
                FROM pg_catalog.pg_locks l
               WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND l.locktype = 'relation'
                 AND l.relation OPERATOR(pg_catalog.=) ANY ({array})))::pg_catalog.text INTO sample;
  PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
  RAISE NOTICE '{MARK}%', sample;
  PERFORM pg_catalog.set_config('client_min_messages', shown, true);
END $migrator_rehearsal$"""


def _statement(text: str) -> Statement:
    (statement,) = split_statements(text + ";")
    return statement


def instrumented(migration: Migration, oids: Iterable[int]) -> Migration:
    """The migration with its samples; its text, checksum and markers (the history's and the plan's) unchanged."""
    known = sorted(oids)
    start, end = (_statement(sample_sql(migration.version, kind, known)) for kind in ("start", "end"))
    step = _statement(sample_sql(migration.version, "step", known))
    body = migration.statements
    head: list[Statement] = []
    if migration.sets_transaction:  # SET TRANSACTION must stay the transaction's first statement
        head, body = body[:1], body[1:]
    sampled: list[Statement] = [*head, start]
    for index, statement in enumerate(body):
        sampled.append(statement)
        if index < len(body) - 1 and len(body) <= STEP_SAMPLES_UP_TO:
            sampled.append(step)
    sampled.append(end)
    return replace(migration, statements=sampled)


@dataclass(frozen=True)
class Sample:
    file: str
    kind: str
    clock: float
    wal: int
    size: int | None
    nodes: dict[int, int | None] | None
    locks: frozenset[tuple[int, str]]


def parse(message: str) -> Sample | None:
    """A sample from a NOTICE's text; None for any other notice (a migration's own RAISE NOTICE)."""
    if not message.startswith(MARK):
        return None
    data = json.loads(message[len(MARK) :])
    nodes = data.get("nodes")
    return Sample(
        file=str(data["file"]),
        kind=str(data["kind"]),
        clock=float(data["clock"]),
        wal=int(data["wal"]),
        size=None if data.get("size") is None else int(data["size"]),
        nodes=None if nodes is None else {int(k): None if v is None else int(v) for k, v in nodes.items()},
        locks=frozenset((int(oid), str(mode)) for oid, mode in data.get("locks") or []),
    )


@dataclass
class Recorder:
    """Collects the samples as the notices arrive; a file that starts again (a retried batch) starts over."""

    samples: list[Sample] = field(default_factory=list)

    def notice(self, diag: psycopg.errors.Diagnostic) -> None:
        found = parse(diag.message_primary or "")
        if found is None:
            return
        if found.kind == "start":
            started = next((i for i, s in enumerate(self.samples) if s.file == found.file), None)
            if started is not None:  # an earlier attempt of this file's batch was rolled back: keep the last one
                del self.samples[started:]
        self.samples.append(found)


# One row per poll even when the session holds none of the locks: the poll's own clock bounds the stretches.
_POLL = b"""
SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()), l.relation::pg_catalog.int8, l.mode
  FROM (SELECT) AS poll LEFT JOIN pg_catalog.pg_locks l
    ON l.pid = %s AND l.granted AND l.locktype = 'relation' AND l.relation::pg_catalog.int8 = ANY(%s)
"""


class Stretch(NamedTuple):
    """One unbroken run of polls that saw a lock (`first`, `last`), and the polls around it that did not (`before`,
    `after`; the run's own ends where there was none): the lock was taken after `before` and released by `after`,
    however late a busy host let the polls come."""

    before: float
    first: float
    last: float
    after: float


@dataclass
class PollRecord:
    """The polls' findings, by the server's clock: each lock's stretches."""

    stretches: dict[tuple[int, str], list[Stretch]] = field(default_factory=dict)
    _held: set[tuple[int, str]] = field(default_factory=set)
    _previous: float | None = None

    def observe(self, clock: float, seen: set[tuple[int, str]]) -> None:
        before = clock if self._previous is None else self._previous
        for pair in seen:
            runs = self.stretches.setdefault(pair, [])
            if pair in self._held:
                runs[-1] = runs[-1]._replace(last=clock, after=clock)
            else:
                runs.append(Stretch(before, clock, clock, clock))
        for pair in self._held - seen:
            runs = self.stretches[pair]
            runs[-1] = runs[-1]._replace(after=clock)
        self._held, self._previous = set(seen), clock


class LockPoll(threading.Thread):
    """The engine session's locks on the existing tables, seen from another session (a no-transaction file's)."""

    def __init__(self, conninfo: str, pid: int, oids: Iterable[int]) -> None:
        super().__init__(name="migrator-rehearsal-poll", daemon=True)
        self._conninfo, self._pid, self._oids = conninfo, pid, sorted(oids)
        self._stopped = threading.Event()
        self.record = PollRecord()
        self.error: str | None = None

    @property
    def stretches(self) -> dict[tuple[int, str], list[Stretch]]:
        return self.record.stretches

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)

    def run(self) -> None:
        try:
            with psycopg.connect(self._conninfo, autocommit=True, application_name="migrator-rehearsal-poll") as conn:
                while not self._stopped.wait(POLL_S):
                    rows = conn.execute(_POLL, (self._pid, self._oids)).fetchall()
                    seen = {(int(oid), str(mode)) for _, oid, mode in rows if oid is not None}
                    self.record.observe(min(float(clock) for clock, _, _ in rows), seen)
        except psycopg.Error as exc:
            self.error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"


@dataclass(frozen=True)
class HeldLock:
    table: str
    mode: str  # as pg_locks.mode spells it
    held_ms: int


@dataclass(frozen=True)
class FileMeasure:
    version: str
    seconds: float
    wal_bytes: int
    size_bytes: int  # the database's size at the file's end minus at its start (old storage is freed at commit)
    rewritten: list[str]
    locks: list[HeldLock]
    finished: bool  # False: the file failed (or was stopped) before its end sample


def _polled(
    polled: Mapping[tuple[int, str], list[Stretch]], tables: Mapping[int, str], start: float, end: float
) -> list[HeldLock]:
    """The locks the poll saw while a no-transaction file ran, each with its longest stretch, from the poll before
    it was seen to the poll after it was gone: an upper bound."""
    found = []
    for (oid, mode), stretches in polled.items():
        within = [run.after - run.before for run in stretches if run.first <= end and run.last >= start]
        if within:
            found.append(HeldLock(tables[oid], mode, round(max(within) * 1000)))
    return sorted(found, key=lambda lock: (lock.table, lock.mode))


def measures(
    samples: list[Sample],
    tables: Mapping[int, str],
    ended_at: float,
    polled: Mapping[tuple[int, str], list[Stretch]] | None = None,
    no_transaction: frozenset[str] = frozenset(),
) -> list[FileMeasure]:
    """Per file, in the order they ran; `ended_at` is the server's clock once the run committed or rolled back;
    the locks of the files in `no_transaction` are the poll's."""
    first_seen: dict[tuple[int, str], int] = {}
    released: dict[tuple[int, str], float] = {}
    for index, sample in enumerate(samples):
        for pair in sample.locks:
            first_seen.setdefault(pair, index)
        for pair, seen in first_seen.items():
            if pair not in sample.locks and seen < index and pair not in released:
                released[pair] = sample.clock
    found: list[FileMeasure] = []
    for version in dict.fromkeys(s.file for s in samples):
        mine = [i for i, s in enumerate(samples) if s.file == version]
        first, last = samples[mine[0]], samples[mine[-1]]
        locks = []
        for (oid, mode), index in sorted(first_seen.items(), key=lambda item: (item[1], tables[item[0][0]])):
            if index not in mine:
                continue
            taken = samples[index - 1].clock if index > mine[0] else samples[index].clock
            until = released.get((oid, mode), ended_at)
            locks.append(HeldLock(tables[oid], mode, max(0, round((until - taken) * 1000))))
        if version in no_transaction:
            locks = _polled(polled or {}, tables, first.clock, last.clock)
        before, after = first.nodes or {}, last.nodes if last.kind == "end" else None
        rewritten = sorted(
            tables[oid]
            for oid, node in (after or {}).items()
            if node is not None and before.get(oid) is not None and before[oid] != node
        )
        found.append(
            FileMeasure(
                version=version,
                seconds=round(last.clock - first.clock, 3),
                wal_bytes=last.wal - first.wal,
                size_bytes=(last.size or 0) - (first.size or 0) if last.size is not None else 0,
                rewritten=rewritten,
                locks=locks,
                finished=last.kind == "end",
            )
        )
    return found
