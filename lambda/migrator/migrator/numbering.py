"""Version numbers: one width per folder, and the next number for `python -m migrator new`.

Versions compare as numbers, so `0075_x.sql` next to `008_y.sql` is version 75 and would make every
later three-digit file out of order; a folder mixing zero-padded widths is refused instead. A
number that outgrew the width without padding (`1000_x.sql` after `999_y.sql`) is not a mix.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import InvalidInput
from migrator.files import MIGRATION_NAME, NO_TRANSACTION_MARK

DEFAULT_WIDTH = 3
_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


def _padded(version: str, width: int) -> bool:
    """Does `version` follow a `width`-digit scheme (padded to it, or past it without padding)?"""
    return len(version) == width or (len(version) > width and not version.startswith("0"))


def folder_width(versions: Sequence[str]) -> int:
    """The width most files use (the narrowest on a tie); DEFAULT_WIDTH for an empty folder."""
    if not versions:
        return DEFAULT_WIDTH
    shortest = min(map(len, versions))
    counts = Counter(len(v) for v in versions if v.startswith("0") or len(v) == shortest)
    best = max(counts.values())
    return min(w for w, n in counts.items() if n == best)


def check_widths(filenames: Sequence[str]) -> None:
    """InvalidInput naming the files whose zero padding differs from the folder's width."""
    versions = {name: match["version"] for name in filenames if (match := MIGRATION_NAME.match(name))}
    width = folder_width(list(versions.values()))
    odd = sorted(name for name, version in versions.items() if not _padded(version, width))
    if odd:
        example = odd[0]
        fixed = f"{int(versions[example]):0{width}d}_{example.split('_', 1)[1]}"
        raise InvalidInput(
            f"mixed version widths: the folder numbers migrations with {width} digits, but {', '.join(odd)}"
            f" {'is' if len(odd) == 1 else 'are'} padded differently (versions compare as numbers, so"
            f" {example} is version {int(versions[example])})",
            hint=f"rename to the folder's width, e.g. {example} -> {fixed} (only if it was never applied anywhere)",
        )


def version_ranges(versions: Sequence[str]) -> str:
    """Versions as a message lists them, in the order given: a run of three or more consecutive numbers as one
    range ("0001–0163"), so a hint naming what 163 committed files left is one short line."""
    runs: list[list[str]] = []
    for version in versions:
        if runs and int(version) == int(runs[-1][-1]) + 1:
            runs[-1].append(version)
        else:
            runs.append([version])
    shown = [f"{run[0]}\u2013{run[-1]}" if len(run) >= 3 else ", ".join(run) for run in runs]
    return ", ".join(shown)


def check_folder(directory: Path) -> None:
    check_widths([p.name for p in directory.iterdir()] if directory.is_dir() else [])


@dataclass(frozen=True)
class NewMigration:
    path: Path
    text: str


# In the file `new` writes until its author replaces it: a file still holding it and no statement is refused.
PLACEHOLDER = "<what this migration changes, and why>"


def template(filename: str, no_transaction: bool) -> str:
    stem = filename.removesuffix(".sql")
    lines = [NO_TRANSACTION_MARK] if no_transaction else []
    lines += [
        f"-- {stem}: {PLACEHOLDER}",
        "--",
        "-- Runs with the other pending files in one transaction: no BEGIN/COMMIT here. Write it",
        "-- idempotently (IF NOT EXISTS / IF EXISTS) so the manual psql fallback can re-run it.",
    ]
    if no_transaction:
        lines[3:5] = [  # after the marker, the summary and the blank comment line
            "-- The first line marks this file no-transaction: it runs alone, outside any transaction,",
            "-- one statement at a time (e.g. CREATE INDEX CONCURRENTLY IF NOT EXISTS …); keep it idempotent.",
        ]
    else:
        lines += [
            "-- For statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY), make the very first",
            f"-- line of this file exactly `{NO_TRANSACTION_MARK}` (or create it with `new --no-transaction`).",
        ]
    return "\n".join(lines) + "\n\n"


def next_migration(directory: Path, name: str, no_transaction: bool = False) -> NewMigration:
    """The next numbered file of `directory` for `name`, at the folder's width; not written yet."""
    cleaned = re.sub(r"[\s-]+", "_", name.strip().lower())
    cleaned = cleaned.removesuffix(".sql")
    if not _NAME.match(cleaned):
        raise InvalidInput(
            f"{name!r} cannot be a migration name",
            hint="use lowercase letters, digits and single underscores, e.g. add_project_tags",
        )
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: migrations directory not found")
    names = [p.name for p in directory.iterdir()]
    check_widths(names)
    versions = [m["version"] for n in names if (m := MIGRATION_NAME.match(n))]
    width = folder_width(versions)
    number = max((int(v) for v in versions), default=-1) + 1
    filename = f"{number:0{width}d}_{cleaned}.sql"
    return NewMigration(directory / filename, template(filename, no_transaction))


def write_new(directory: Path, name: str, no_transaction: bool = False) -> Path:
    new = next_migration(directory, name, no_transaction)
    with new.path.open("x", encoding="utf-8") as handle:  # never overwrite
        handle.write(new.text)
    return new.path
