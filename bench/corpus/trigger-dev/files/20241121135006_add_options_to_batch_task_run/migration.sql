-- AlterTable
ALTER TABLE "BatchTaskRun" ADD COLUMN     "options" JSONB;
