-- AlterTable
ALTER TABLE "TaskRun" ADD COLUMN     "runTags" TEXT[];
