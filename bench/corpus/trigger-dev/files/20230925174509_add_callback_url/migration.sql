-- AlterTable
ALTER TABLE "Task" ADD COLUMN     "callbackUrl" TEXT;
