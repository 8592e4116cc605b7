"""The plan (migrator.plan): every version's state, what apply refuses, what it runs and in which batches."""

from __future__ import annotations

import pytest

from migrator.errors import ChecksumDrift, ForeignDatabase, MigratorError, OutOfOrder, VersionReused
from migrator.plan import (
    APPLIED,
    CHANGED,
    MISSING,
    OUT_OF_ORDER,
    PENDING,
    REUSED,
    VersionState,
    make_plan,
    refusal,
    survey,
)
from migrator.report import plan_lines
from tests.unit.builders import folder, gone, migration, plan_of, row, schema


def states_of(states: list[VersionState]) -> list[tuple[str, str, bool]]:
    return [(s.version, s.state, s.blocking) for s in states]


# --- survey: a state for every version, whatever is wrong --------------------------------------------------------


def test_applied_and_pending_versions_in_version_order() -> None:
    files = folder("001", "002", "003")
    states = survey(files, [row(files[0]), row(files[1])])
    assert states_of(states) == [("001", APPLIED, False), ("002", APPLIED, False), ("003", PENDING, False)]
    assert states[0].applied == row(files[0]) and states[2].applied is None
    assert refusal(states) is None


def test_an_edited_applied_file_is_changed_and_blocks() -> None:
    files = folder("001", "002")
    states = survey(files, [row(files[0], text="SELECT 0;\n"), row(files[1])])
    changed = states[0]
    assert (changed.state, changed.blocking) == (CHANGED, True)
    assert files[0].filename in changed.detail
    assert row(files[0], text="SELECT 0;\n").checksum[:12] in changed.detail
    assert files[0].checksum[:12] in changed.detail
    refused = refusal(states)
    assert type(refused) is ChecksumDrift
    assert (refused.message, refused.hint) == (changed.detail, changed.remedy)


def test_a_number_taken_by_two_branches_is_reused_not_changed() -> None:
    files = folder("001", "002")
    other_branch = row(files[1], text="CREATE TABLE b ();\n", name="add_b")
    states = survey(files, [row(files[0]), other_branch])
    assert states_of(states)[1] == ("002", REUSED, True)
    assert "'add_b'" in states[1].detail and files[1].filename in states[1].detail
    assert isinstance(refusal(states), VersionReused)


def test_a_renamed_file_with_the_same_text_counts_as_applied() -> None:
    """The checksum decides: a name differing with equal contents is not drift."""
    files = folder("001")
    assert states_of(survey(files, [row(files[0], name="old_name")])) == [("001", APPLIED, False)]


def test_a_history_row_without_its_file_is_missing_and_does_not_block() -> None:
    files = folder("001", "002")
    states = survey(files, [row(files[0]), row(files[1]), gone("003", "from_a_branch")])
    assert states_of(states)[-1] == ("003", MISSING, False)
    assert states[-1].migration is None
    assert refusal(states) is None


def test_a_pending_file_older_than_the_newest_applied_is_out_of_order() -> None:
    files = folder("001", "002", "003")
    applied = [row(files[0]), row(files[2])]
    states = survey(files, applied)
    assert states_of(states) == [("001", APPLIED, False), ("002", OUT_OF_ORDER, True), ("003", APPLIED, False)]
    refused = refusal(states)
    assert isinstance(refused, OutOfOrder)
    assert refused.message == "002_change_002.sql pending but older than applied version 003"
    allowed = survey(files, applied, allow_out_of_order=True)
    assert states_of(allowed)[1] == ("002", OUT_OF_ORDER, False)
    assert refusal(allowed) is None


def test_the_newest_applied_version_counts_even_when_its_file_is_missing() -> None:
    files = folder("001", "002")
    states = survey(files, [row(files[0]), gone("005", "elsewhere")])
    assert states_of(states) == [("001", APPLIED, False), ("002", OUT_OF_ORDER, True), ("005", MISSING, False)]
    refused = refusal(states)
    assert refused is not None and refused.message.endswith("older than applied version 005")


def test_every_late_file_is_named_once() -> None:
    files = folder("001", "002", "003", "004")
    refused = refusal(survey(files, [row(files[0]), row(files[3])]))
    assert refused is not None
    assert refused.message == "002_change_002.sql, 003_change_003.sql pending but older than applied version 004"


def test_drift_is_refused_before_order() -> None:
    files = folder("001", "002", "003")
    states = survey(files, [row(files[0], text="edited\n"), row(files[2])])
    assert {s.state for s in states} == {CHANGED, OUT_OF_ORDER, APPLIED}
    assert type(refusal(states)) is ChecksumDrift


def test_versions_compare_as_numbers_not_strings() -> None:
    files = [migration("099", "a"), migration("100", "b"), migration("1000", "c")]
    states = survey(list(reversed(files)), [row(files[1])])
    assert [s.version for s in states] == ["099", "100", "1000"]
    assert states_of(states)[0] == ("099", OUT_OF_ORDER, True)


# --- make_plan: what apply runs -----------------------------------------------------------------------------------


def test_an_up_to_date_database_plans_nothing() -> None:
    plan = plan_of(folder("001", "002"), applied_count=2)
    assert plan.is_noop
    assert plan.pending == [] and plan.batches() == []
    assert plan.current_version == plan.target_version == "002"


def test_pending_files_are_planned_in_order_after_the_current_version() -> None:
    files = folder("001", "002", "003")
    plan = plan_of(files, applied_count=1)
    assert plan.to_apply == plan.pending == files[1:]
    assert (plan.current_version, plan.target_version) == ("001", "003")
    assert not plan.is_noop and not plan.adopting_legacy and plan.load_schema is None


def test_a_fresh_database_loads_the_schema_and_applies_only_what_is_newer() -> None:
    files = folder("001", "002", "003", "004")
    plan = plan_of(files, schema_version="002")
    assert plan.load_schema == schema("002")
    assert plan.recorded_by_schema == files[:2]
    assert plan.to_apply == files[2:]
    assert plan.batches() == [files[2:]], "the schema's versions are recorded, never run"
    assert (plan.current_version, plan.target_version) == (None, "004")


def test_a_fresh_schema_leaves_nothing_to_run_but_is_still_work() -> None:
    files = folder("001", "002")
    plan = plan_of(files, schema_version="002")
    assert plan.to_apply == [] and plan.recorded_by_schema == files
    assert not plan.is_noop
    assert plan.target_version == "002"


def test_a_fresh_database_without_a_schema_file_runs_every_migration() -> None:
    files = folder("001", "002")
    plan = plan_of(files)
    assert plan.load_schema is None and plan.recorded_by_schema == []
    assert plan.to_apply == files and not plan.adopting_legacy


def test_the_schema_is_ignored_once_there_is_history() -> None:
    files = folder("001", "002", "003")
    plan = plan_of(files, applied_count=1, schema_version="003")
    assert plan.load_schema is None and plan.recorded_by_schema == []
    assert plan.to_apply == files[1:]


def test_a_database_with_data_but_no_history_is_adopted_by_running_every_file() -> None:
    files = folder("001", "002")
    plan = make_plan(files, [], database_is_empty=False, schema=schema("002"))
    assert plan.adopting_legacy
    assert plan.load_schema is None, "schema.sql is for empty databases only"
    assert plan.to_apply == files


def test_a_database_holding_unknown_tables_is_refused_as_foreign() -> None:
    tables = [f"public.t{i}" for i in range(10)]
    with pytest.raises(ForeignDatabase) as refused:
        make_plan(folder("001"), [], database_is_empty=False, schema=None, unknown_tables=tables)
    message = str(refused.value)
    assert "public.t0, public.t1" in message and "public.t7 and 2 more" in message
    assert "public.t8" not in message
    assert "baseline" in (refused.value.hint or "")


def test_unknown_tables_do_not_matter_once_there_is_history() -> None:
    files = folder("001", "002")
    plan = make_plan(files, [row(files[0])], database_is_empty=False, schema=None, unknown_tables=["public.x"])
    assert plan.to_apply == files[1:]


def test_make_plan_raises_what_survey_finds() -> None:
    files = folder("001", "002", "003")
    with pytest.raises(ChecksumDrift):
        make_plan(files, [row(files[0], text="edited\n")], database_is_empty=False, schema=None)
    with pytest.raises(OutOfOrder):
        make_plan(files, [row(files[0]), row(files[2])], database_is_empty=False, schema=None)
    assert issubclass(OutOfOrder, MigratorError) and issubclass(VersionReused, ChecksumDrift)


def test_out_of_order_allowed_applies_the_late_file_with_the_rest() -> None:
    files = folder("001", "002", "003", "004")
    applied = [row(files[0]), row(files[2])]
    plan = make_plan(files, applied, database_is_empty=False, schema=None, allow_out_of_order=True)
    assert plan.to_apply == [files[1], files[3]]
    assert [s.state for s in plan.states] == [APPLIED, OUT_OF_ORDER, APPLIED, PENDING]


def test_an_allowed_out_of_order_file_does_not_lower_the_target_version() -> None:
    files = folder("001", "002", "003")
    plan = make_plan(
        files, [row(files[0]), row(files[2])], database_is_empty=False, schema=None, allow_out_of_order=True
    )
    assert plan.to_apply == [files[1]]
    assert (plan.current_version, plan.target_version) == ("003", "003"), "a snapshot would read v003-to-v002"


def test_rows_without_files_are_reported_and_left_alone() -> None:
    files = folder("001", "002")
    stray = gone("003", "from_a_branch")
    plan = make_plan(files, [row(files[0]), stray], database_is_empty=False, schema=None, allow_out_of_order=True)
    assert plan.unknown_applied == [stray]
    assert plan.current_version == "003"


# --- batches: one transaction for consecutive files, a no-transaction file alone ---------------------------------


def test_consecutive_transactional_files_share_one_batch() -> None:
    files = folder("001", "002", "003")
    assert plan_of(files).batches() == [files]


def test_a_no_transaction_file_stands_alone_and_splits_the_run() -> None:
    t1, t2, n3, t4, n5, n6, t7 = (
        migration("001", "a"),
        migration("002", "b"),
        migration("003", "c", no_transaction=True),
        migration("004", "d"),
        migration("005", "e", no_transaction=True),
        migration("006", "f", no_transaction=True),
        migration("007", "g"),
    )
    batches = plan_of([t1, t2, n3, t4, n5, n6, t7]).batches()
    assert batches == [[t1, t2], [n3], [t4], [n5], [n6], [t7]]


def test_a_run_may_start_with_a_no_transaction_file() -> None:
    n1, t2, t3 = migration("001", "a", no_transaction=True), migration("002", "b"), migration("003", "c")
    assert plan_of([n1, t2, t3]).batches() == [[n1], [t2, t3]]


def test_batches_hold_only_what_runs_not_what_is_already_applied() -> None:
    files = folder("001", "002", "003")
    assert plan_of(files, applied_count=2).batches() == [[files[2]]]


@pytest.mark.parametrize(
    ("text", "alone"),
    [
        ("-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);\n", True),
        ("  -- migrate:no-transaction  \nSELECT 1;\n", True),
        ("-- migrate:no-transaction", True),
        ("-- a comment first\n-- migrate:no-transaction\nSELECT 1;\n", False),
        ("-- migrate:no-transaction please\nSELECT 1;\n", False),
        ("-- MIGRATE:NO-TRANSACTION\nSELECT 1;\n", False),
        ("SELECT 1; -- migrate:no-transaction\n", False),
    ],
)
def test_only_an_exact_first_line_marks_a_file_no_transaction(text: str, alone: bool) -> None:
    assert migration("001", "a", body=text).no_transaction is alone


def test_a_file_adding_an_enum_value_ends_its_batch_and_plan_says_so() -> None:
    """langfuse adds a value in one file and uses it in the next: 55P04 in one transaction, as psql per file it
    commits first. The splitter's statements decide: a comment or a string that reads ADD VALUE does not."""
    t1 = migration("001", "a")
    adds = migration("002", "add", body="-- ALTER TYPE x ADD VALUE\nALTER TYPE \"Score\"\n  ADD VALUE 'NEW';\n")
    t3 = migration("003", "use")
    lookalike = migration("004", "d", body="SELECT 'ALTER TYPE x ADD VALUE y';\n/* ALTER TYPE x ADD VALUE */\n")
    t5 = migration("005", "e")
    plan = plan_of([t1, adds, t3, lookalike, t5])
    assert plan.batches() == [[t1, adds], [t3, lookalike, t5]]
    lines = plan_lines(plan, "db")
    assert any(
        "001_a.sql, 002_add.sql" in line and "002_add.sql adds an enum value: the files after it run in a new" in line
        for line in lines
    ), lines


def test_a_file_setting_its_transaction_is_a_batch_of_its_own_and_plan_says_so() -> None:
    """Its isolation level (or READ ONLY) is its transaction's: a file after it in the same batch ran with it,
    where psql's next transaction starts with the defaults."""
    t1 = migration("001", "a")
    sets = migration("002", "iso", body="SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nSELECT 1;\n")
    t3, t4 = migration("003", "c"), migration("004", "d")
    plan = plan_of([t1, sets, t3, t4])
    assert plan.batches() == [[t1], [sets], [t3, t4]]
    lines = plan_lines(plan, "db")
    assert any("002_iso.sql opens with SET TRANSACTION: the files after it run in a new" in x for x in lines), lines


@pytest.mark.parametrize(
    ("body", "adds"),
    [
        ("alter type mood add value 'x';\n", True),
        ("SELECT 1;\nALTER TYPE public.\"Mood\" ADD VALUE IF NOT EXISTS 'x' BEFORE 'y';\n", True),
        ("ALTER TYPE \"my type\"\tADD\nVALUE 'x'\n", True),
        ("ALTER TYPE mood RENAME VALUE 'a' TO 'b';\n", False),
        ("ALTER TYPE mood ADD ATTRIBUTE x int;\n", False),
        ("DO $$ BEGIN RAISE NOTICE 'ALTER TYPE m ADD VALUE'; END $$;\n", False),
    ],
)
def test_only_an_alter_type_add_value_statement_adds_an_enum_value(body: str, adds: bool) -> None:
    assert migration("001", "a", body=body).adds_enum_value is adds
