#!/bin/sh
# The "before" entrypoint (Dockerfile.before): migrate with the Prisma CLI, then start the app.
# The usual script; it is what usher replaces.
set -e
npx prisma migrate deploy
node server.js
