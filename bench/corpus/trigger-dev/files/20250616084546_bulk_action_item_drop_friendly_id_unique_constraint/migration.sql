-- DropIndex
DROP INDEX CONCURRENTLY IF EXISTS "BulkActionItem_friendlyId_key";