-- AlterTable
ALTER TABLE "Workflow" ADD COLUMN     "jsonSchema" JSONB;
