-- AlterTable
ALTER TABLE "Account" ADD COLUMN     "expires_in" INTEGER,
ADD COLUMN     "ext_expires_in" INTEGER;
