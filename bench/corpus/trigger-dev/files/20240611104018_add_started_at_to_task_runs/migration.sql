-- AlterTable
ALTER TABLE
  "TaskRun"
ADD
  COLUMN "startedAt" TIMESTAMP(3);