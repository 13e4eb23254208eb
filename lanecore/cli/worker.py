"""``lanecore worker``: run worker processes of a Redis-backed queue (extra ``redis``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from lanecore.cli.argtypes import count, seconds
from lanecore.cli.errors import CliError

EPILOG = """\
--app MODULE:ATTR names either a dict {command type: async handler(payload)} (run on the six
default lanes), or a callable returning a configured QueueManagerBuilder (lanes, global cap,
DLQ size; the handlers then come from the module's HANDLERS dict) or a pair (builder,
handlers). The worker adds the Redis backend. Every worker of a namespace must configure the
same lanes. TLS: a rediss:// URL, with --tls-ca-cert/--tls-cert/--tls-key (or the URL's
ssl_ca_certs/ssl_certfile/ssl_keyfile query). A Redis Cluster: --cluster, the URL naming any
node. SIGTERM or SIGINT: stop claiming, finish running commands, exit 0.
Exit status: 0 clean stop, 1 runtime failure or a bad Redis setting (Redis unreachable, lanes
differ, a bad URL or TLS file, a refused ACL), 2 bad arguments (including an --app that cannot
be loaded)."""


def _processes(text: str) -> int:
    from lanecore.redis.runner import process_count

    try:
        return process_count(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or an integer >= 1, got {text!r}"
        ) from None


def add_worker_parser(sub: Any) -> None:
    """Add the ``worker`` subcommand to the ``lanecore`` parser's subparsers."""
    worker = sub.add_parser(
        "worker",
        help="run worker processes of a Redis-backed queue",
        description="Claim and run named commands from Redis by the lane rules (priority, "
        "per-lane and global concurrency, rate limits) shared by every worker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument(
        "--redis",
        required=True,
        metavar="URL",
        help="e.g. redis://host:6379/0 or redis+sentinel://host:26379,host2:26379/mymaster/0",
    )
    worker.add_argument("--namespace", default="lanecore", metavar="NS", help="default lanecore")
    worker.add_argument("--app", required=True, metavar="MODULE:ATTR", help="handlers and lanes")
    worker.add_argument(
        "--concurrency",
        type=count(1),
        default=32,
        metavar="N",
        help="commands each process runs at once (default 32)",
    )
    worker.add_argument(
        "--processes",
        type=_processes,
        default=1,
        metavar="auto|N",
        help="worker processes (auto: one per CPU core; default 1)",
    )
    worker.add_argument(
        "--lease",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="lease of a claimed command without heartbeat (default 30)",
    )
    worker.add_argument(
        "--drain-timeout",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM, how long to wait for running commands (default 60)",
    )
    worker.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop"
    )
    tls = worker.add_argument_group("TLS (a rediss:// URL)")
    tls.add_argument("--tls-ca-cert", metavar="FILE", help="CA certificates (PEM) to trust")
    tls.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM)")
    tls.add_argument("--tls-key", metavar="FILE", help="client private key (PEM)")
    tls.add_argument(
        "--tls-no-check-hostname",
        action="store_true",
        help="accept a server certificate that does not name the URL's host",
    )
    worker.add_argument(
        "--cluster",
        action="store_true",
        help="the URL is a Redis Cluster node; connect to the node serving the namespace",
    )
    worker.add_argument(
        "--overwrite-lanes",
        action="store_true",
        help="replace the lane configs stored in Redis instead of failing when they differ",
    )


def _child_argv(args: argparse.Namespace) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "lanecore",
        "worker",
        "--redis",
        args.redis,
        "--namespace",
        args.namespace,
        "--app",
        args.app,
        "--concurrency",
        str(args.concurrency),
        "--processes",
        "1",
        "--lease",
        repr(args.lease),
        "--drain-timeout",
        repr(args.drain_timeout),
        "--loop",
        args.loop,
    ]
    if args.overwrite_lanes:
        argv.append("--overwrite-lanes")
    for flag, value in (
        ("--tls-ca-cert", args.tls_ca_cert),
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
    ):
        if value is not None:
            argv += [flag, value]
    if args.tls_no_check_hostname:
        argv.append("--tls-no-check-hostname")
    if args.cluster:
        argv.append("--cluster")
    return argv


def _tls(args: argparse.Namespace) -> Any:
    """The TLSOptions of the TLS flags (None without any); ValueError naming a bad file."""
    from lanecore.redis.tls import TLSOptions

    if not (args.tls_ca_cert or args.tls_cert or args.tls_key or args.tls_no_check_hostname):
        return None
    return TLSOptions(
        ca_certs=args.tls_ca_cert,
        certfile=args.tls_cert,
        keyfile=args.tls_key,
        check_hostname=not args.tls_no_check_hostname,
    )


def run_worker(args: argparse.Namespace) -> int:
    """Run the ``worker`` subcommand; exit status 2 for an unusable --app, CliError (1) for
    an unreachable Redis or lanes that differ from the stored ones."""
    try:
        from lanecore.redis import LaneConfigMismatch
        from lanecore.redis.runner import (
            AppError,
            RedisUnreachable,
            WorkerOptions,
            load_app,
            run_one,
            supervise,
        )
    except ImportError as exc:
        raise CliError(f"{exc} (the worker needs: pip install 'lanecore[redis]')") from None
    from lanecore.redis.backend import RedisBackend

    try:
        load_app(args.app)  # fail fast, before connecting or forking
    except AppError as exc:
        print(f"lanecore worker: error: {exc}", file=sys.stderr)
        return 2
    try:  # a bad URL or TLS file, before connecting or forking
        tls = _tls(args)
        backend = RedisBackend(args.redis, args.namespace, tls=tls, cluster=args.cluster)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.processes > 1:
        _check_redis(backend)
        return supervise(_child_argv(args), args.processes)
    options = WorkerOptions(
        url=args.redis,
        namespace=args.namespace,
        app=args.app,
        concurrency=args.concurrency,
        lease=args.lease,
        drain_timeout=args.drain_timeout,
        loop=args.loop,
        overwrite_lanes=args.overwrite_lanes,
        tls=tls,
        cluster=args.cluster,
    )
    try:
        return run_one(options)
    except (RedisUnreachable, LaneConfigMismatch, ValueError, PermissionError) as exc:
        raise CliError(str(exc)) from None


def _check_redis(backend: Any) -> None:
    from lanecore.redis.backend import TRANSIENT
    from lanecore.redis.connect import redacted

    try:
        asyncio.run(backend.ping(timeout=5.0))
    except TRANSIENT as exc:
        raise CliError(f"cannot reach Redis at {redacted(backend.url)}: {exc}") from None
    except PermissionError as exc:
        raise CliError(str(exc)) from None
