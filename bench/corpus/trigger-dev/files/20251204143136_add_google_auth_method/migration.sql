-- AlterEnum
ALTER TYPE "public"."AuthenticationMethod" ADD VALUE 'GOOGLE';
