ALTER TABLE "public"."Project" ADD COLUMN     "buildSettings" JSONB;

