"""A bad migration folder ends synth with one `error:` line naming the file, not a Python traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest

import app
from stacks.bundle import MIGRATIONS_DIR, SCHEMA_FILE, describe_bundle
from tests.cdk.synth import context
from tests.support.migrations import NEXT


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("8_no_padding.sql", "SELECT 1;\n", "8_no_padding.sql"),
        (f"{NEXT}_unterminated.sql", "SELECT 'never closed;\n", f"{NEXT}_unterminated.sql:1: unterminated"),
    ],
)
def test_a_bad_migration_fails_synth_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, says: str
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("*.md", "*.txt"))
    (folder / name).write_text(text)
    monkeypatch.setattr(app, "describe_bundle", lambda: describe_bundle(folder, SCHEMA_FILE))
    with pytest.raises(SystemExit) as ended:
        app.main(cdk.App(outdir=str(tmp_path / "out"), context=context(env="dev")))
    message = str(ended.value.code)
    assert message.startswith("error: ") and says in message
    assert "\n" not in message.split("\n  hint:")[0]
