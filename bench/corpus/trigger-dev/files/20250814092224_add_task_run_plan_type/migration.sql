-- AlterTable
ALTER TABLE "TaskRun" ADD COLUMN     "planType" TEXT;