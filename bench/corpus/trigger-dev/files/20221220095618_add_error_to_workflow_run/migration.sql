-- AlterTable
ALTER TABLE "WorkflowRun" ADD COLUMN     "error" JSONB;
