-- DropIndex
DROP INDEX CONCURRENTLY IF EXISTS "TaskRun_projectId_status_idx";
