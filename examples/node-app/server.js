// The app of Dockerfile.example. No dependencies and no signal handlers on purpose: usher, as
// PID 1, forwards docker stop's SIGTERM and the default action ends the process at once.
// Its database is already migrated when it starts (usher ran migrations/ first).
"use strict";
const http = require("http");

const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(`hello from ${process.env.HOSTNAME || "the app"}, running as uid ${process.getuid()}\n`);
});
// PORT=0 takes any free port (replicas sharing the host's network in the test suite).
server.listen(port, () => {
  console.log(`listening on port ${server.address().port} as uid ${process.getuid()}`);
});
