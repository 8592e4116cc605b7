-- AlterTable
ALTER TABLE "BackgroundWorkerTask" ADD COLUMN     "payloadSchema" JSONB;