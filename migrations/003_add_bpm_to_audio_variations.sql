-- 003: tempo (beats per minute) of each generated music track.
-- squawk-ignore-file prefer-bigint-over-int
--   (bpm is CHECKed to 20..300)
ALTER TABLE audio_variations ADD COLUMN IF NOT EXISTS bpm integer;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'audio_variations_bpm_check'
                     AND conrelid = 'audio_variations'::regclass) THEN
        ALTER TABLE audio_variations ADD CONSTRAINT audio_variations_bpm_check
            CHECK (bpm IS NULL OR bpm BETWEEN 20 AND 300);
    END IF;
END
$$;
