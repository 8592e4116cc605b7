-- AlterEnum
ALTER TYPE "BlobStorageIntegrationFileType" ADD VALUE 'PARQUET';
