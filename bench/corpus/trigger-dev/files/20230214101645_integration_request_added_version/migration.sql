-- AlterTable
ALTER TABLE "IntegrationRequest" ADD COLUMN     "version" TEXT NOT NULL DEFAULT '1';
