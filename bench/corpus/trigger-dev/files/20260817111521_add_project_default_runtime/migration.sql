-- AlterTable
ALTER TABLE "Project" ADD COLUMN "defaultRuntime" TEXT;
