-- DropIndex
DROP INDEX CONCURRENTLY IF EXISTS "trace_sessions_created_at_idx";
