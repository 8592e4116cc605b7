-- AlterTable
ALTER TABLE "EventExample" ADD COLUMN     "payload" JSONB;
