#!/usr/bin/env python3
"""A TCP proxy that delays every chunk by a fixed one-way delay and counts round trips.

    bench/rtproxy.py --target HOST:PORT [--delay-ms 1] [--listen-port 0] [--log FILE]

Prints the port it listens on (one line) on stdout, then forwards every connection to the target,
each chunk in either direction delivered DELAY ms after it was read (order kept), like a network
hop (the kernel here has no sch_netem). A round trip is counted each time the server speaks after
the client did: requests the client sends in a row without waiting (a pipeline, one multi-statement
message) count once; the goodbye (Terminate, COM_QUIT) counts for nothing. When a connection
closes, a line `connection N round_trips K` is appended to the log file (default: stderr); when
one opens, `opened N`.
Used by bench/latency.sh and tests/round_trips.rs; never shipped.
"""

import argparse
import asyncio
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--log")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    delay = a.delay_ms / 1000.0
    log = open(a.log, "a", buffering=1) if a.log else sys.stderr
    count = [0]

    async def handle(creader, cwriter):
        count[0] += 1
        n = count[0]
        log.write(f"opened {n}\n")
        log.flush()
        try:
            sreader, swriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        for w in (cwriter, swriter):
            sock = w.get_extra_info("socket")
            if sock is not None:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = {"last": None, "trips": 0}

        async def pump(reader, writer, side):
            queue = asyncio.Queue()

            async def deliver():
                while True:
                    due, data = await queue.get()
                    if data is None:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    try:
                        await writer.drain()
                    except OSError:
                        break
                try:
                    writer.close()
                except OSError:
                    pass

            task = asyncio.create_task(deliver())
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    if side == "server" and state["last"] == "client":
                        state["trips"] += 1
                    state["last"] = side
                    queue.put_nowait((time.monotonic() + delay, data))
            except OSError:
                pass
            queue.put_nowait((0, None))
            await task

        await asyncio.gather(
            pump(creader, swriter, "client"), pump(sreader, cwriter, "server")
        )
        log.write(f"connection {n} round_trips {state['trips']}\n")
        log.flush()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", a.listen_port)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
