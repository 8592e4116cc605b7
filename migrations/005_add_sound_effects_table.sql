-- 005: sound effects placed on a scene.
-- squawk-ignore-file require-concurrent-index-creation
--   (the index is built on the table this file creates, still empty)
CREATE TABLE IF NOT EXISTS sound_effects (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scene_id              uuid NOT NULL REFERENCES scenes (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    audio_url             text NOT NULL,
    start_offset_seconds  numeric(10, 3) NOT NULL DEFAULT 0,
    duration_seconds      numeric(10, 3),
    volume                numeric(4, 3) NOT NULL DEFAULT 1.0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sound_effects_start_offset_check CHECK (start_offset_seconds >= 0),
    CONSTRAINT sound_effects_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    CONSTRAINT sound_effects_volume_check CHECK (volume BETWEEN 0 AND 1)
);
CREATE INDEX IF NOT EXISTS idx_sound_effects_scene_id ON sound_effects (scene_id);
