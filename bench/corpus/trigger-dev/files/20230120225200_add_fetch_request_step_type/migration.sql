-- AlterEnum
ALTER TYPE "WorkflowRunStepType" ADD VALUE 'FETCH_REQUEST';
