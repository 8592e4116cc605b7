-- AlterTable
ALTER TABLE "Task" ADD COLUMN     "noop" BOOLEAN NOT NULL DEFAULT false;
