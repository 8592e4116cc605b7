-- 004: a project may carry an uploaded script and its analysis.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS script_filename text;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS script_text text;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS script_analysis jsonb;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS script_uploaded_at timestamptz;
