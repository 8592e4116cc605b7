-- AlterTable
ALTER TABLE "DynamicTriggerRegistration" ADD COLUMN     "metadata" JSONB;
