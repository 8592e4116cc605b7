-- 006: which tracks are picked for preview and for import; the preview mix.
-- squawk-ignore-file require-concurrent-index-creation
--   (the index is built on the table this file creates, still empty)
ALTER TABLE audio_variations ADD COLUMN IF NOT EXISTS is_selected_for_preview boolean NOT NULL DEFAULT false;
ALTER TABLE audio_variations ADD COLUMN IF NOT EXISTS is_selected_for_import boolean NOT NULL DEFAULT false;
ALTER TABLE sound_effects ADD COLUMN IF NOT EXISTS is_selected_for_preview boolean NOT NULL DEFAULT false;
ALTER TABLE sound_effects ADD COLUMN IF NOT EXISTS is_selected_for_import boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS preview_tracks (
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
CREATE INDEX IF NOT EXISTS idx_preview_tracks_scene_id ON preview_tracks (scene_id);
