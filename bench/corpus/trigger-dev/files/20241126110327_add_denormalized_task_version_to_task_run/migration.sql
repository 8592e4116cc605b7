-- AlterTable
ALTER TABLE "TaskRun" ADD COLUMN     "taskVersion" TEXT;
