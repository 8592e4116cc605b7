-- AlterTable
ALTER TABLE "TaskEvent" ADD COLUMN     "attemptNumber" INTEGER;
