// The app of examples/node-prisma: counts its visits in PostgreSQL. Its schema comes from
// prisma/migrations, applied before it starts (by usher in Dockerfile, by `prisma migrate
// deploy` in Dockerfile.before). No signal handlers, as in most apps: what happens on `docker
// stop` depends on what runs as PID 1.
"use strict";
const http = require("http");
const { Pool } = require("pg");

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
const port = Number(process.env.PORT || 3000);

const server = http.createServer(async (req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  try {
    await pool.query('INSERT INTO "Visit" ("path") VALUES ($1)', [req.url]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM "Visit"');
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`visits: ${rows[0].n}\n`);
  } catch (err) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(`database error: ${err.message}\n`);
  }
});
server.listen(port, () => {
  console.log(`listening on port ${server.address().port}`);
});
