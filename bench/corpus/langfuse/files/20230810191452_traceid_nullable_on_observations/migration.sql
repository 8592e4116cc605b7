-- AlterTable
ALTER TABLE "observations" ALTER COLUMN "trace_id" DROP NOT NULL;
