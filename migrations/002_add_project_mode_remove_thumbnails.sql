-- 002: workflow mode per project; thumbnails are no longer stored.
-- squawk-ignore-file ban-drop-column
--   (thumbnails were removed from the application before this migration ran in production)
ALTER TABLE projects ADD COLUMN IF NOT EXISTS mode text NOT NULL DEFAULT 'auto';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'projects_mode_check'
                     AND conrelid = 'projects'::regclass) THEN
        ALTER TABLE projects ADD CONSTRAINT projects_mode_check
            CHECK (mode IN ('auto', 'manual', 'script'));
    END IF;
END
$$;

ALTER TABLE projects DROP COLUMN IF EXISTS thumbnail_url;
