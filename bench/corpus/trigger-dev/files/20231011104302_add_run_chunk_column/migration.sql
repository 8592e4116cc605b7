-- AlterTable
ALTER TABLE "Endpoint" ADD COLUMN     "runChunkExecutionLimit" INTEGER NOT NULL DEFAULT 60;
