-- AlterTable
ALTER TABLE "ExternalSource" ADD COLUMN     "secret" TEXT;
