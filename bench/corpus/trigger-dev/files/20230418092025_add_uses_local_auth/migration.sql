-- AlterTable
ALTER TABLE "JobConnection" ADD COLUMN     "usesLocalAuth" BOOLEAN NOT NULL DEFAULT false;
