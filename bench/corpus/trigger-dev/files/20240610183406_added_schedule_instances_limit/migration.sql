-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "maximumScheduleInstancesLimit" INTEGER NOT NULL DEFAULT 20;
