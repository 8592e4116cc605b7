-- AlterTable
ALTER TABLE "WorkerDeployment" ADD COLUMN     "runtimeVersion" TEXT;