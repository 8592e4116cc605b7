"""Property-based: any migration folder gives exit 2 or success, never a traceback, never a change on invalid input.

CRLF vs LF, and a BOM, do not change a checksum (decided: the checksum is of the text with
LF line endings and no BOM, so a Windows checkout of an applied file is not drift).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.cli import main
from tests.engine.helpers import reset_database, state

pytestmark = pytest.mark.slow  # hypothesis-generated folders, each applied

VERSIONS = st.integers(min_value=0, max_value=1200)
NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,8}(_[a-z0-9]{1,6}){0,2}", fullmatch=True),  # good
    st.text(min_size=0, max_size=12),  # anything at all
)
BODIES = st.sampled_from(
    [
        b"",
        b"-- only a comment\n",
        b"SELECT 1;\n",
        b"SELECT 1;\r\nSELECT 2;\r\n",
        b"\xef\xbb\xbfSELECT 1;\n",
        b"SELECT 'caf\xc3\xa9';\n",
        b"SELECT '\xff\xfe';\n",
        b"SELECT $$ unterminated",
        b"BEGIN;\nSELECT 1;\nCOMMIT;\n",
        b"-- migrate:no-transaction\nSELECT 1;\n",
        b"SELECT 1",
        b"\\set x 1\n",
    ]
)


@st.composite
def folders(draw: st.DrawFn) -> list[tuple[str, bytes, str]]:
    entries = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        version = draw(VERSIONS)
        width = draw(st.sampled_from([3, 3, 3, 4, 1, 2]))
        name = f"{version:0{width}d}_{draw(NAMES)}.sql"
        kind = draw(st.sampled_from(["file", "file", "file", "symlink", "directory"]))
        entries.append((name, draw(BODIES), kind))
    return entries


def _write(directory: Path, entries: list[tuple[str, bytes, str]]) -> bool:
    for name, body, kind in entries:
        if "/" in name or "\x00" in name or name in (".", ".."):
            return False
        path = directory / name
        try:
            if kind == "symlink":
                (directory.parent / "target.sql").write_bytes(body)
                path.symlink_to(directory.parent / "target.sql")
            elif kind == "directory":
                path.mkdir()
            else:
                path.write_bytes(body)
        except (OSError, ValueError):
            return False
    return True


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=folders())
def test_any_folder_is_exit_2_or_success_and_invalid_input_changes_nothing(db: str, entries: list) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "migrations"
        folder.mkdir()
        if not _write(folder, entries):
            return
        before = state(db)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = main(["--database-url", db, "--migrations-dir", str(folder), "--no-schema", "apply"])
        assert status in (0, 2), err.getvalue()
        assert "Traceback" not in err.getvalue()
        if status == 2:
            assert err.getvalue().startswith("error: ")
            assert state(db) == before
        shutil.rmtree(folder)
    reset_database(db)  # for the next example
