-- AlterTable
ALTER TABLE "Visit" ADD COLUMN     "path" TEXT NOT NULL DEFAULT '/';

-- CreateIndex
CREATE INDEX "Visit_createdAt_idx" ON "Visit"("createdAt");
