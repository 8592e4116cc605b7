-- AlterEnum
ALTER TYPE "WorkflowRunStatus" ADD VALUE 'INTERRUPTED';
