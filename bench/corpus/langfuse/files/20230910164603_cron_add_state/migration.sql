-- AlterTable
ALTER TABLE "cron_jobs" ADD COLUMN     "state" TEXT;
