-- AlterTable
ALTER TABLE "TaskEvent" ALTER COLUMN "taskPath" DROP NOT NULL,
ALTER COLUMN "taskExportName" DROP NOT NULL;
