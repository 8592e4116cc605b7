-- AlterTable
ALTER TABLE "RuntimeEnvironment" ADD COLUMN     "tunnelId" TEXT;
