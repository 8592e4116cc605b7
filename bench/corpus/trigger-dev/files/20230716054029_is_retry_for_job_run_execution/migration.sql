-- AlterTable
ALTER TABLE "JobRunExecution" ADD COLUMN     "isRetry" BOOLEAN NOT NULL DEFAULT false;
