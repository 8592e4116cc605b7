-- AlterEnum
ALTER TYPE "ScoreDataType" ADD VALUE 'BOOLEAN';
