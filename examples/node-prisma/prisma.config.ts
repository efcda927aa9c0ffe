// Prisma 6's configuration, used by the CLI only (Dockerfile.before, and `prisma migrate dev` on
// a developer's machine). The WASM schema engine with the pg driver adapter: the CLI then needs
// no engine binary downloaded at install or run time. `allowExitOnIdle`: without it the CLI
// waits for pg's idle pool (~10 s) before it exits.
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  adapter: async () =>
    new PrismaPg({ connectionString: process.env.DATABASE_URL!, allowExitOnIdle: true }),
});
