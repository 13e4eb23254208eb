"""TLS: a redis-server listening only on a TLS port and asking for client certificates, with a
CA and certificates the test makes with openssl. A worker process (CLI flags) and producers
(``tls=TLSOptions(...)`` or the URL's ``ssl_*`` query) run commands over it; a wrong CA or a
missing client certificate cannot connect; bad TLS settings fail at construction."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis_fixtures

from lanecore.redis.testing import RedisServerUnavailable
from lanecore.redis.testing_tls import Certificates, TLSRedisServer, make_certificates

pytest.importorskip("redis", reason="the redis client package is not installed")

import redis_apps
from redis.exceptions import ConnectionError as RedisConnectionError

from lanecore.redis import DistributedManager, RedisBackend, TLSOptions


@pytest.fixture(scope="module")
def server() -> Iterator[TLSRedisServer]:
    try:
        instance = TLSRedisServer(client_certs="yes")
        instance.start()
    except RedisServerUnavailable as exc:
        pytest.skip(f"no TLS redis-server could be started: {exc}")
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates of a CA the server does not know."""
    try:
        return make_certificates(str(tmp_path_factory.mktemp("other-ca")))
    except RedisServerUnavailable as exc:
        pytest.skip(f"no certificates could be made: {exc}")


def client_tls(certs: Certificates) -> TLSOptions:
    return TLSOptions(ca_certs=certs.ca, certfile=certs.client_cert, keyfile=certs.client_key)


def manager(url: str, ns: str, **backend: Any) -> DistributedManager:
    builder, _ = redis_apps.plain()
    return builder.with_backend(RedisBackend(url, ns, lease=1.0, grace=0.2, **backend)).build()


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_worker_process_and_producers_over_tls(server: TLSRedisServer) -> None:
    certs = server.certificates
    ns = redis_fixtures.namespace()
    flags = ["--tls-ca-cert", certs.ca, "--tls-cert", certs.client_cert]
    flags += ["--tls-key", certs.client_key]
    workers = redis_fixtures.Workers(server.url, ns, 1, app="redis_apps:plain", extra=flags)
    query = (
        f"{server.url}?ssl_ca_certs={certs.ca}&ssl_certfile={certs.client_cert}"
        f"&ssl_keyfile={certs.client_key}"
    )
    try:
        workers.wait_ready()

        async def produce() -> None:
            by_options = manager(server.url, ns, tls=client_tls(certs))
            by_query = manager(query, ns)
            async with by_options, by_query:
                first = [by_options.submit("high", "echo", i) for i in range(30)]
                second = [by_query.submit("low", "echo", -i) for i in range(30)]
                assert await asyncio.gather(*first) == list(range(30))
                assert await asyncio.gather(*second) == [-i for i in range(30)]
                counters = await by_query.metrics()
                assert counters["high"]["lane.commands.completed"] == 30
                assert counters["low"]["lane.commands.completed"] == 30

        run(produce())
    finally:
        assert workers.close() == [0]


def test_hostname_is_checked_against_the_certificate(server: TLSRedisServer) -> None:
    certs = server.certificates
    # the server certificate names 127.0.0.1 and localhost
    run(RedisBackend(f"rediss://localhost:{server.port}/0", tls=client_tls(certs)).ping())


def test_unknown_ca_or_no_client_certificate_cannot_connect(
    server: TLSRedisServer, other_ca: Certificates
) -> None:
    certs = server.certificates

    async def refused(tls: TLSOptions, reason: str) -> None:
        backend = RedisBackend(server.url, tls=tls, connect_timeout=1.0)
        with pytest.raises(RedisConnectionError, match=reason):
            await backend.ping(timeout=0.5)
        await backend.aclose()

    run(refused(TLSOptions(ca_certs=other_ca.ca), "CERTIFICATE_VERIFY_FAILED"))
    run(refused(TLSOptions(ca_certs=certs.ca), "CERTIFICATE_REQUIRED|reset|closed"))
    # a client certificate from another CA: the server refuses it
    foreign = TLSOptions(
        ca_certs=certs.ca, certfile=other_ca.client_cert, keyfile=other_ca.client_key
    )
    run(refused(foreign, "UNKNOWN_CA|unknown ca|reset|closed"))


def test_bad_tls_settings_fail_at_construction(tmp_path: Path, other_ca: Certificates) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ValueError, match=r"ca_certs: no such file .*missing\.pem"):
        TLSOptions(ca_certs=missing)
    with pytest.raises(ValueError, match="certfile: no such file"):
        TLSOptions(certfile=missing)
    with pytest.raises(ValueError, match=r"keyfile .* needs a certfile"):
        TLSOptions(keyfile=other_ca.client_key)
    with pytest.raises(ValueError, match="not a matching certificate and key"):
        TLSOptions(certfile=other_ca.client_cert, keyfile=other_ca.server_key)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    with pytest.raises(ValueError, match="no usable CA certificate"):
        TLSOptions(ca_certs=str(not_pem))
    with pytest.raises(ValueError, match="cert_reqs must be one of"):
        TLSOptions(cert_reqs="maybe")
    with pytest.raises(ValueError, match="check_hostname=True needs cert_reqs='required'"):
        TLSOptions(cert_reqs="none")
    assert TLSOptions(cert_reqs="none", check_hostname=False).cert_reqs == "none"
    tls = TLSOptions(ca_certs=other_ca.ca)
    with pytest.raises(ValueError, match="TLS settings need a rediss:// URL"):
        RedisBackend("redis://127.0.0.1:6379/0", tls=tls)
    with pytest.raises(ValueError, match="TLS settings need a rediss:// URL"):
        RedisBackend(f"redis://127.0.0.1:6379/0?ssl_ca_certs={other_ca.ca}")
    with pytest.raises(ValueError, match=r"given both in the URL \(ssl_ca_certs\)"):
        RedisBackend(f"rediss://127.0.0.1:6379/0?ssl_ca_certs={other_ca.ca}", tls=tls)
    with pytest.raises(ValueError, match="ca_certs: no such file"):
        RedisBackend(f"rediss://127.0.0.1:6379/0?ssl_ca_certs={missing}")
    with pytest.raises(ValueError, match="ssl_check_hostname='perhaps' is not a boolean"):
        RedisBackend("rediss://127.0.0.1:6379/0?ssl_check_hostname=perhaps")
    with pytest.raises(ValueError, match="tls must be a TLSOptions"):
        RedisBackend("rediss://127.0.0.1:6379/0", tls={"ca_certs": other_ca.ca})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://"):
        RedisBackend("http://127.0.0.1:6379/0")


def test_worker_cli_rejects_a_missing_tls_file(tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "lanecore", "worker", "--redis", "rediss://127.0.0.1:1/0",
        "--app", "redis_apps:plain", "--tls-ca-cert", str(tmp_path / "nope.pem"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{redis_fixtures.TESTS}{os.pathsep}{redis_fixtures.ROOT}"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1  # as for a bad --redis URL
    assert "ca_certs: no such file" in done.stderr and "nope.pem" in done.stderr
