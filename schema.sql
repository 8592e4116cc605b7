-- Aalap VMA: the complete current schema, for new databases.
-- schema-version: 007
--
-- This file equals migrations 000..007 applied in order (the test suite and
-- `python -m migrator verify` compare the catalogs). When you add migration
-- 008, change this file the same way and bump the version above.

CREATE TABLE users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                text NOT NULL,
    name                 text,
    google_id            text,
    avatar_url           text,
    password_hash        text,
    password_updated_at  timestamptz,
    email_verified       boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_google_id_key UNIQUE (google_id)
);

CREATE TABLE projects (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                text NOT NULL,
    description         text,
    mode                text NOT NULL DEFAULT 'auto',
    script_filename     text,
    script_text         text,
    script_analysis     jsonb,
    script_uploaded_at  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_mode_check CHECK (mode IN ('auto', 'manual', 'script'))
);
CREATE INDEX idx_projects_user_id ON projects (user_id);

CREATE TABLE videos (
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
CREATE INDEX idx_videos_project_id ON videos (project_id);

CREATE TABLE scenes (
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
CREATE INDEX idx_scenes_video_id ON scenes (video_id);

CREATE TABLE audio_variations (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id                 uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    prompt                   text,
    audio_url                text NOT NULL,
    duration_seconds         numeric(10, 3),
    bpm                      integer,
    is_selected_for_preview  boolean NOT NULL DEFAULT false,
    is_selected_for_import   boolean NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audio_variations_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    CONSTRAINT audio_variations_bpm_check CHECK (bpm IS NULL OR bpm BETWEEN 20 AND 300)
);
CREATE INDEX idx_audio_variations_scene_id ON audio_variations (scene_id);

CREATE TABLE sound_effects (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id                 uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    name                     text NOT NULL,
    audio_url                text NOT NULL,
    start_offset_seconds     numeric(10, 3) NOT NULL DEFAULT 0,
    duration_seconds         numeric(10, 3),
    volume                   numeric(4, 3) NOT NULL DEFAULT 1.0,
    is_selected_for_preview  boolean NOT NULL DEFAULT false,
    is_selected_for_import   boolean NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sound_effects_start_offset_check CHECK (start_offset_seconds >= 0),
    CONSTRAINT sound_effects_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    CONSTRAINT sound_effects_volume_check CHECK (volume BETWEEN 0 AND 1)
);
CREATE INDEX idx_sound_effects_scene_id ON sound_effects (scene_id);

CREATE TABLE preview_tracks (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id              uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    track_type            text NOT NULL,
    source_id             uuid NOT NULL,
    audio_url             text NOT NULL,
    start_offset_seconds  numeric(10, 3) NOT NULL DEFAULT 0,
    volume                numeric(4, 3) NOT NULL DEFAULT 1.0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT preview_tracks_track_type_check CHECK (track_type IN ('music', 'sound_effect')),
    CONSTRAINT preview_tracks_start_offset_check CHECK (start_offset_seconds >= 0),
    CONSTRAINT preview_tracks_volume_check CHECK (volume BETWEEN 0 AND 1)
);
CREATE INDEX idx_preview_tracks_scene_id ON preview_tracks (scene_id);

CREATE TABLE scene_analysis (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id    uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    mood        text,
    tempo_hint  text,
    analysis    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_scene_analysis_scene_id ON scene_analysis (scene_id);

CREATE TABLE music_prompts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id    uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    prompt      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_music_prompts_scene_id ON music_prompts (scene_id);

CREATE TABLE chat_messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    scene_id    uuid REFERENCES scenes (id) ON DELETE CASCADE,
    role        text NOT NULL,
    content     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chat_messages_role_check CHECK (role IN ('user', 'assistant', 'system'))
);
CREATE INDEX idx_chat_messages_user_id ON chat_messages (user_id);
CREATE INDEX idx_chat_messages_project_id ON chat_messages (project_id);
CREATE INDEX idx_chat_messages_scene_id ON chat_messages (scene_id);

CREATE TABLE voice_messages (
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
CREATE INDEX idx_voice_messages_user_id ON voice_messages (user_id);
CREATE INDEX idx_voice_messages_project_id ON voice_messages (project_id);
