-- AlterTable
ALTER TABLE
  "TaskRunExecutionSnapshot"
ADD
  COLUMN "metadata" JSONB;