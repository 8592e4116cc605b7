-- AlterTable
ALTER TABLE "Checkpoint" ADD COLUMN     "attemptNumber" INTEGER;
