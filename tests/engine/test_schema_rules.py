"""The rules the team relies on, checked on the catalog that schema.sql builds: for every table
there is, including the ones a later migration adds (the list is read from the database, never
written here)."""

from __future__ import annotations

import psycopg

from tests.engine.helpers import assert_team_rules, cli
from tests.support.project import PROJECT


def test_every_foreign_key_cascades_and_is_indexed(db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli(capsys, db, PROJECT / "migrations", PROJECT / "schema.sql", "apply")[0] == 0
    assert_team_rules(db)


def test_deleting_a_user_cascades_to_everything_below(db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli(capsys, db, PROJECT / "migrations", PROJECT / "schema.sql", "apply")[0] == 0
    with psycopg.connect(db) as conn:
        user = conn.execute("INSERT INTO users (email) VALUES ('u@example.com') RETURNING id").fetchone()
        project = conn.execute("INSERT INTO projects (user_id, name) VALUES (%s, 'p') RETURNING id", user).fetchone()
        video = conn.execute(
            "INSERT INTO videos (project_id, filename, storage_url) VALUES (%s, 'v.mp4', 's3://v') RETURNING id",
            project,
        ).fetchone()
        scene = conn.execute(
            "INSERT INTO scenes (video_id, scene_index, start_seconds, end_seconds)"
            " VALUES (%s, 0, 0, 4.5) RETURNING id",
            video,
        ).fetchone()
        assert scene is not None and user is not None and project is not None
        conn.execute("INSERT INTO audio_variations (scene_id, audio_url, bpm) VALUES (%s, 'a', 120)", scene)
        conn.execute(
            "INSERT INTO chat_messages (user_id, project_id, scene_id, role, content)"
            " VALUES (%s, %s, %s, 'user', 'hi')",
            (user[0], project[0], scene[0]),
        )
        conn.execute("DELETE FROM users WHERE id = %s", user)
        left = conn.execute(
            "SELECT (SELECT count(*) FROM scenes) + (SELECT count(*) FROM audio_variations)"
            " + (SELECT count(*) FROM chat_messages)"
        ).fetchone()
    assert left == (0,)
