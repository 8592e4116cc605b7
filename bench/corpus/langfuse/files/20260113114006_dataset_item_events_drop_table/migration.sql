/*
  Warnings:

  - You are about to drop the `dataset_item_events` table. If the table is not empty, all the data it contains will be lost.

*/
-- DropTable
DROP TABLE "dataset_item_events";
