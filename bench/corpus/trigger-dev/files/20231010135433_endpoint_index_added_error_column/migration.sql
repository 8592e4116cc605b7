-- AlterTable
ALTER TABLE "EndpointIndex" ADD COLUMN     "error" JSONB;
