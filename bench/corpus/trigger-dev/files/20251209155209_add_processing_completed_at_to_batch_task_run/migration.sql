-- AlterTable
ALTER TABLE "public"."BatchTaskRun" ADD COLUMN     "processingCompletedAt" TIMESTAMP(3);