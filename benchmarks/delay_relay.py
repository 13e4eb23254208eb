"""A TCP relay that holds every byte a client sends for a fixed delay before passing it on
(the other direction is not delayed): a stand-in for ``tc netem delay`` on the client's link
where the kernel has no netem. partition_delay.py runs it in the Redis namespace.

    python -m benchmarks.delay_relay --listen 10.1.2.1:6380 --to 10.1.2.1:6379 --delay-ms 20

Unlike netem it delays what the client writes as the relay reads it (chunks, not packets),
and TCP's own acks are not delayed. Prints ``ready`` once listening; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


async def _forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it was read, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                return
            writer.write(data)
            await writer.drain()

    sender = loop.create_task(send()) if delay > 0 else None
    try:
        while True:
            data = await reader.read(65536)
            if sender is None:
                if not data:
                    return
                writer.write(data)
                await writer.drain()
            else:
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    await sender
                    return
    finally:
        if sender is not None:
            sender.cancel()
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(listen: tuple[str, int], target: tuple[str, int], delay: float) -> None:
    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        with contextlib.suppress(Exception):
            await asyncio.gather(
                _forward(client_r, server_w, delay), _forward(server_r, client_w, 0.0)
            )

    server = await asyncio.start_server(relay, *listen)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--to", type=_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error(f"--delay-ms must be >= 0, got {args.delay_ms}")
    asyncio.run(_serve(args.listen, args.to, args.delay_ms / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
