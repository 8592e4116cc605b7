"""The rehearsal's measurements from samples, without a server: which file a lock is listed under and how long it
was held, what was rewritten, and the samples added to a file (which leave its checksum and batching alone)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from migrator.measure import MARK, PollRecord, Recorder, Sample, Stretch, instrumented, measures, parse
from tests.unit.builders import migration

TABLES = {1: "big", 2: "small"}


def sample(file: str, kind: str, clock: float, locks: Iterable[tuple[int, str]] = (), node: int = 10) -> Sample:
    storage = kind != "step"
    return Sample(
        file=file,
        kind=kind,
        clock=clock,
        wal=int(clock * 100),
        size=int(clock * 10) if storage else None,
        nodes={1: node, 2: 20} if storage else None,
        locks=frozenset(locks),
    )


def test_a_lock_is_listed_under_the_file_that_first_took_it_held_from_the_sample_before_until_commit() -> None:
    exclusive, share = (1, "AccessExclusiveLock"), (1, "ShareLock")
    samples = [
        sample("002", "start", 1.0),
        sample("002", "step", 2.0, {share}),
        sample("002", "end", 3.0, {share}, node=10),
        sample("003", "start", 3.0, {share}, node=10),
        sample("003", "end", 7.0, {share, exclusive}, node=11),  # ALTER TYPE: rewritten, and SHARE again
    ]
    first, second = measures(samples, TABLES, ended_at=8.0)
    assert [(lock.table, lock.mode, lock.held_ms) for lock in first.locks] == [("big", "ShareLock", 7000)]
    assert [(lock.table, lock.mode, lock.held_ms) for lock in second.locks] == [("big", "AccessExclusiveLock", 5000)]
    assert (first.rewritten, second.rewritten) == ([], ["big"])
    assert (second.seconds, second.wal_bytes, second.size_bytes) == (4.0, 400, 40)
    assert first.finished and second.finished


def test_a_lock_ends_at_the_first_sample_that_no_longer_sees_it_and_a_failed_file_is_unfinished() -> None:
    exclusive = (2, "AccessExclusiveLock")
    samples = [
        sample("002", "start", 1.0),
        sample("002", "end", 2.0, {exclusive}),
        sample("003", "start", 4.5),  # a later batch: the first one committed
        sample("003", "step", 5.0),
    ]
    first, failed = measures(samples, TABLES, ended_at=9.0)
    assert [(lock.table, lock.held_ms) for lock in first.locks] == [("small", 3500)]
    assert not failed.finished and failed.rewritten == []


def test_a_no_transaction_files_locks_are_the_polls_longest_stretch_within_it() -> None:
    samples = [sample("004", "start", 10.0), sample("004", "end", 12.0)]
    polled = {
        (1, "ShareUpdateExclusiveLock"): [Stretch(10.15, 10.2, 10.4, 10.45), Stretch(10.45, 10.5, 11.5, 11.55)],
        (2, "AccessShareLock"): [Stretch(0.95, 1.0, 2.0, 2.05)],
    }
    (file,) = measures(samples, TABLES, ended_at=13.0, polled=polled, no_transaction=frozenset({"004"}))
    assert [(lock.table, lock.mode, lock.held_ms) for lock in file.locks] == [("big", "ShareUpdateExclusiveLock", 1100)]


def test_a_polled_hold_is_bounded_by_the_polls_around_it_however_late_they_come() -> None:
    """A busy host delays the poll: a lock it first sees 200 ms after the previous poll, and next misses 250 ms after
    it last saw it, may have been held for all of that (CI saw 154 ms for a 300 ms statement with "plus 50 ms")."""
    record, lock, other = PollRecord(), (1, "AccessExclusiveLock"), (2, "AccessShareLock")
    for clock, seen in ((10.0, set()), (10.2, {lock}), (10.25, {lock}), (10.5, {other}), (10.55, set())):
        record.observe(clock, seen)
    assert record.stretches[lock] == [Stretch(10.0, 10.2, 10.25, 10.5)]
    first = [sample("004", "start", 9.9), sample("004", "end", 10.3)]
    second = [sample("005", "start", 10.3), sample("005", "end", 10.6)]  # the first file's lock is gone by then
    held = measures(first + second, TABLES, 11.0, record.stretches, frozenset({"004", "005"}))
    assert [[(lock.table, lock.mode, lock.held_ms) for lock in file.locks] for file in held] == [
        [("big", "AccessExclusiveLock", 500)],
        [("small", "AccessShareLock", 300)],
    ]


def test_a_retried_batch_keeps_only_its_last_attempt() -> None:
    recorder = Recorder()

    class Notice:
        def __init__(self, message: str) -> None:
            self.message_primary = message

    def note(file: str, kind: str, clock: float) -> Notice:
        payload = {"file": file, "kind": kind, "clock": clock, "wal": 0, "size": None, "nodes": None, "locks": []}
        return Notice(MARK + json.dumps(payload))

    for message in (note("002", "start", 1.0), note("003", "start", 2.0), note("002", "start", 5.0)):
        recorder.notice(message)  # type: ignore[arg-type]
    recorder.notice(Notice("a migration's own NOTICE"))  # type: ignore[arg-type]
    assert [(s.file, s.clock) for s in recorder.samples] == [("002", 5.0)]
    assert parse("a migration's own NOTICE") is None


def test_samples_leave_the_files_checksum_and_its_set_transaction_first() -> None:
    plain = migration("005", body="ALTER TABLE big ADD COLUMN x int;\nUPDATE big SET x = 1;\n")
    sampled = instrumented(plain, TABLES)
    assert (sampled.checksum, sampled.text) == (plain.checksum, plain.text)
    kinds = [
        "start" if "'start'" in s.sql else "step" if "'step'" in s.sql else "end" if "'end'" in s.sql else "sql"
        for s in sampled.statements
    ]
    assert kinds == ["start", "sql", "step", "sql", "end"]
    opening = migration("006", body="SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\n")
    assert opening.sets_transaction and instrumented(opening, TABLES).sets_transaction
