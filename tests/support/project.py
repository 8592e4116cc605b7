"""The checkout's root, for tests that read its files (cdk.json, migrations, schema.sql) or run its tools."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
