"""Version numbers (migrator.numbering): one zero-padded width per folder, and the template of a new file."""

from __future__ import annotations

import pytest

from migrator.errors import InvalidInput
from migrator.files import NO_TRANSACTION_MARK
from migrator.numbering import DEFAULT_WIDTH, check_widths, folder_width, template, version_ranges
from tests.unit.builders import migration


@pytest.mark.parametrize(
    ("versions", "width"),
    [
        ([], DEFAULT_WIDTH),
        (["001", "002"], 3),
        (["0001", "0002", "0003"], 4),
        (["001", "002", "0003"], 3),
        (["0001", "0002", "003"], 4),
        (["01", "002"], 2),
        (["998", "999", "1000", "1001"], 3),
        (["1", "2", "10"], 1),
    ],
    ids=["empty", "three", "four", "mostly-three", "mostly-four", "tie-narrowest", "outgrown", "unpadded"],
)
def test_the_folder_width_is_what_most_files_use(versions: list[str], width: int) -> None:
    assert folder_width(versions) == width


def test_a_folder_of_one_width_passes_other_files_ignored() -> None:
    check_widths(["001_a.sql", "002_b.sql", "README.md", "notes.txt", "999_c.sql", "1000_d.sql"])
    check_widths([])


def test_a_file_padded_differently_is_refused_with_its_rename() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_widths(["001_a.sql", "002_b.sql", "0003_c.sql"])
    assert "0003_c.sql is padded differently" in refused.value.message
    assert "0003_c.sql is version 3" in refused.value.message
    assert "0003_c.sql -> 003_c.sql" in refused.value.hint


def test_every_odd_file_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"but 0003_c.sql, 0004_d.sql are padded differently"):
        check_widths(["001_a.sql", "002_b.sql", "005_e.sql", "0003_c.sql", "0004_d.sql"])


def test_a_new_files_template_is_comments_only_and_transactional() -> None:
    text = template("008_add_tags.sql", no_transaction=False)
    made = migration("008", "add_tags", body=text)
    assert made.statements == [], "nothing runs until the author writes SQL"
    assert not made.no_transaction
    assert text.startswith("-- 008_add_tags: ")
    assert NO_TRANSACTION_MARK in text, "it tells how to opt out"


def test_a_no_transaction_template_is_marked_on_its_first_line() -> None:
    text = template("009_index_tags.sql", no_transaction=True)
    made = migration("009", "index_tags", body=text)
    assert made.no_transaction and made.statements == []
    assert text.splitlines()[1].startswith("-- 009_index_tags: ")
    assert "Runs with the other pending files in one transaction" not in text
    assert text.splitlines()[2] == "--", "the blank comment line after the summary stays"
    assert "-- idempotently" not in text, "no stray half of the transactional text"


@pytest.mark.parametrize(
    ("versions", "shown"),
    [
        ([f"{n:04d}" for n in range(1, 164)], "0001\u20130163"),
        (["001", "002", "004", "005", "006", "009"], "001, 002, 004\u2013006, 009"),
        (["099", "100", "101", "1000"], "099\u2013101, 1000"),
        (["20240524154058", "20240524156058"], "20240524154058, 20240524156058"),
        (["007"], "007"),
        ([], ""),
    ],
)
def test_committed_versions_show_consecutive_runs_as_ranges(versions: list[str], shown: str) -> None:
    """A hint listing 163 committed versions one by one is a line nobody reads (the corpus run's 55P04)."""
    assert version_ranges(versions) == shown
