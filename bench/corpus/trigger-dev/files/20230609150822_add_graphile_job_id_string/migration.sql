-- AlterTable
ALTER TABLE "JobRunExecution" ALTER COLUMN "graphileJobId" SET DATA TYPE TEXT;
