-- AlterTable
ALTER TABLE "TaskRun" ADD COLUMN     "logsDeletedAt" TIMESTAMP(3);
