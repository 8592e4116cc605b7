-- 008_table_comments: what each table is for, as COMMENT ON, so the generated schema.sql keeps it.
--
-- COMMENT ON replaces any earlier comment, so re-running it changes nothing.

COMMENT ON TABLE users IS
    'An account: signs in with Google (google_id) or a password (password_hash). Root of the ownership tree: deleting a user deletes their projects, chat and voice messages, and everything below them.';
COMMENT ON COLUMN users.password_hash IS 'Password hash for password sign-in; NULL for Google-only accounts.';

COMMENT ON TABLE projects IS
    'A user''s project: one or more videos to score. Deleting it deletes its videos, scenes, audio, sound effects, chat and voice messages.';
COMMENT ON COLUMN projects.mode IS 'Workflow: auto (music generated per scene), manual (the user picks), script (driven by an uploaded script).';
COMMENT ON COLUMN projects.script_analysis IS 'The analysis of the uploaded script (script mode), as JSON.';

COMMENT ON TABLE videos IS 'A video uploaded to a project (storage_url). Deleting it deletes its scenes.';

COMMENT ON TABLE scenes IS
    'A time range [start_seconds, end_seconds) of a video, numbered by scene_index. Deleting it deletes its audio variations, sound effects, preview tracks, analysis, music prompts and the chat messages about it.';

COMMENT ON TABLE audio_variations IS 'A generated music track for a scene; bpm 20-300; flags mark the ones picked for preview and for import.';

COMMENT ON TABLE sound_effects IS 'A sound effect placed in a scene at start_offset_seconds, with its volume (0-1) and preview/import flags.';

COMMENT ON TABLE preview_tracks IS 'A track of a scene''s preview mix: a music track or a sound effect (track_type, source_id), its offset and volume.';

COMMENT ON TABLE scene_analysis IS 'What the analysis of a scene found: mood, a tempo hint, and the full result as JSON.';

COMMENT ON TABLE music_prompts IS 'A prompt used to generate music for a scene.';

COMMENT ON TABLE chat_messages IS 'The assistant chat of a project, optionally about one scene (scene_id); role is user, assistant or system.';

COMMENT ON TABLE voice_messages IS 'A recorded voice message in a project, with its transcript.';
