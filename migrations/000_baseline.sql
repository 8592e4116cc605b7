-- 000_baseline: the Aalap VMA schema as production had it before 001.
-- squawk-ignore-file require-concurrent-index-creation, prefer-bigint-over-int
--   (indexes are built with their new, empty tables inside the atomic batch; integer columns hold bounded values (pixels, scene numbers))
-- Idempotent: on that legacy database it changes nothing; on an empty one it
-- creates the legacy tables, so 001..007 can be replayed from scratch.

CREATE TABLE IF NOT EXISTS users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL,
    name        text,
    google_id   text,
    avatar_url  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_google_id_key UNIQUE (google_id)
);

CREATE TABLE IF NOT EXISTS projects (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           text NOT NULL,
    description    text,
    thumbnail_url  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_projects_user_id ON projects (user_id);

CREATE TABLE IF NOT EXISTS videos (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id        uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    filename          text NOT NULL,
    storage_url       text NOT NULL,
    duration_seconds  numeric(10, 3),
    width             integer,
    height            integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT videos_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    CONSTRAINT videos_dimensions_check CHECK ((width IS NULL OR width > 0) AND (height IS NULL OR height > 0))
);
CREATE INDEX IF NOT EXISTS idx_videos_project_id ON videos (project_id);

CREATE TABLE IF NOT EXISTS scenes (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    video_id       uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    scene_index    integer NOT NULL,
    start_seconds  numeric(10, 3) NOT NULL,
    end_seconds    numeric(10, 3) NOT NULL,
    description    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scenes_video_id_scene_index_key UNIQUE (video_id, scene_index),
    CONSTRAINT scenes_scene_index_check CHECK (scene_index >= 0),
    CONSTRAINT scenes_time_range_check CHECK (start_seconds >= 0 AND end_seconds > start_seconds)
);
CREATE INDEX IF NOT EXISTS idx_scenes_video_id ON scenes (video_id);

CREATE TABLE IF NOT EXISTS audio_variations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id          uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    prompt            text,
    audio_url         text NOT NULL,
    duration_seconds  numeric(10, 3),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audio_variations_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds > 0)
);
CREATE INDEX IF NOT EXISTS idx_audio_variations_scene_id ON audio_variations (scene_id);

CREATE TABLE IF NOT EXISTS scene_analysis (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id    uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    mood        text,
    tempo_hint  text,
    analysis    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_scene_analysis_scene_id ON scene_analysis (scene_id);

CREATE TABLE IF NOT EXISTS music_prompts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id    uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    prompt      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_music_prompts_scene_id ON music_prompts (scene_id);

CREATE TABLE IF NOT EXISTS chat_messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role        text NOT NULL,
    content     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chat_messages_role_check CHECK (role IN ('user', 'assistant', 'system'))
);
CREATE INDEX IF NOT EXISTS idx_chat_messages_user_id ON chat_messages (user_id);
CREATE INDEX IF NOT EXISTS idx_chat_messages_project_id ON chat_messages (project_id);

CREATE TABLE IF NOT EXISTS voice_messages (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id        uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    audio_url         text NOT NULL,
    transcript        text,
    duration_seconds  numeric(10, 3),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT voice_messages_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds > 0)
);
CREATE INDEX IF NOT EXISTS idx_voice_messages_user_id ON voice_messages (user_id);
CREATE INDEX IF NOT EXISTS idx_voice_messages_project_id ON voice_messages (project_id);
