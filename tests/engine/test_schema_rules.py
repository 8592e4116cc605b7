"""The rules the team relies on, checked on the catalog that schema.sql builds."""

from __future__ import annotations

import psycopg

from tests.engine.helpers import cli
from tests.support.project import PROJECT

TABLES = {
    "users",
    "projects",
    "videos",
    "scenes",
    "audio_variations",
    "sound_effects",
    "preview_tracks",
    "scene_analysis",
    "music_prompts",
    "chat_messages",
    "voice_messages",
}
TREE = {
    ("projects", "users"),
    ("videos", "projects"),
    ("scenes", "videos"),
    ("audio_variations", "scenes"),
    ("sound_effects", "scenes"),
    ("preview_tracks", "scenes"),
    ("scene_analysis", "scenes"),
    ("music_prompts", "scenes"),
    ("chat_messages", "scenes"),
    ("chat_messages", "projects"),
    ("chat_messages", "users"),
    ("voice_messages", "projects"),
    ("voice_messages", "users"),
}


def test_tables_tree_cascades_and_indexes(db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli(capsys, db, PROJECT / "migrations", PROJECT / "schema.sql", "apply")[0] == 0
    with psycopg.connect(db) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            )
        }
        fks = conn.execute("""
            SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.confdeltype,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
            FROM pg_constraint c WHERE c.contype = 'f'""").fetchall()
        timestamps = conn.execute("""
            SELECT table_name FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name IN ('created_at', 'updated_at')
              AND is_nullable = 'NO' AND column_default = 'now()'
            GROUP BY table_name HAVING count(*) = 2""").fetchall()
    assert tables == TABLES
    assert {(child, parent) for child, parent, _, _ in fks} == TREE
    assert {action for _, _, action, _ in fks} == {"c"}, "every foreign key is ON DELETE CASCADE"
    assert all(indexed for *_, indexed in fks), "every foreign-key column is indexed"
    assert {t for (t,) in timestamps} == TABLES


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
