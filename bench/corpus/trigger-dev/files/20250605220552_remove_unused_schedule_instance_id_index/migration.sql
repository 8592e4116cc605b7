-- DropIndex
DROP INDEX CONCURRENTLY IF EXISTS "TaskRun_scheduleInstanceId_idx";
