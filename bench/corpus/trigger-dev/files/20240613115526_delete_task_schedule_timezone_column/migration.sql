/*
  Warnings:

  - You are about to drop the column `timezone` on the `TaskSchedule` table. All the data in the column will be lost.

*/
-- AlterTable
ALTER TABLE "TaskSchedule" DROP COLUMN "timezone";
