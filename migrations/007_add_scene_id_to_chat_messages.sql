-- 007: a chat message may be about one scene (NULL: about the whole project).
-- squawk-ignore-file adding-foreign-key-constraint, require-concurrent-index-creation
--   (the new column is NULL everywhere, so the FK check scans nothing to fail; chat_messages is small (measured in production before 007))
ALTER TABLE chat_messages
    ADD COLUMN IF NOT EXISTS scene_id uuid REFERENCES scenes (id) ON DELETE CASCADE;
CREATE INDEX IF NOT EXISTS idx_chat_messages_scene_id ON chat_messages (scene_id);
