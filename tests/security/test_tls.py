"""TLS: ``rediss://`` against a TLS-only throwaway server (``port 0``, ``tls-port``) that
requires client certificates, with a CA and certificates made by ``openssl`` at test time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import streamq
from streamq import App, Job
from tests.servers import Server, TlsFiles, make_certs, redis_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, server and client certificates, and an unrelated CA."""
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: TlsFiles) -> Iterator[Server]:
    """A redis-server that speaks only TLS and requires a client certificate."""
    with redis_server(tls=tls) as running:
        yield running


def url(server: Server, ca: Path, cert: Path | None, key: Path | None, **extra: str) -> str:
    query = {"ssl_ca_certs": str(ca), **extra}
    if cert is not None and key is not None:
        query |= {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    return f"rediss://127.0.0.1:{server.port}/0?" + "&".join(f"{k}={v}" for k, v in query.items())


async def test_enqueue_and_worker_over_tls(server: Server, tls: TlsFiles) -> None:
    """ssl_ca_certs, ssl_certfile, ssl_keyfile and ssl_cert_reqs in the URL reach redis-py:
    a job goes through enqueue, a worker (its own blocking connection too) and result()."""
    app = App(url(server, tls.ca, tls.client_cert, tls.client_key, ssl_cert_reqs="required"),
              namespace="tls")

    @app.processor("hello")
    async def hello(job: Job) -> str:
        return f"hello {job.data}"

    async with app:
        jobs = [await app.enqueue("hello", n) for n in range(5)]
        await app.worker().run(burst=True)
        assert [await j.result(timeout=5) for j in jobs] == [f"hello {n}" for n in range(5)]
        await app.queue().clean("completed")


async def test_wrong_ca_is_a_clear_connection_error(server: Server, tls: TlsFiles) -> None:
    """A CA that did not sign the server's certificate: streamq.ConnectionError naming TLS
    and the URL options to check, within seconds."""
    app = App(url(server, tls.other_ca, tls.client_cert, tls.client_key))
    started = time.monotonic()
    with pytest.raises(streamq.ConnectionError) as caught:
        await app.connect()
    await app.aclose()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "TLS handshake" in message and "ssl_ca_certs" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message


async def test_missing_client_certificate_is_a_clear_connection_error(
    server: Server, tls: TlsFiles
) -> None:
    """The server requires a client certificate (tls-auth-clients yes) and none is given:
    streamq.ConnectionError (not a redis-py or ssl traceback) saying what to check."""
    app = App(url(server, tls.ca, None, None))
    with pytest.raises(streamq.ConnectionError) as caught:
        await app.connect()
    await app.aclose()
    assert "ssl_certfile" in str(caught.value)


async def test_plain_url_against_a_tls_port_is_a_clear_error(server: Server) -> None:
    """redis:// to a TLS-only port: streamq.ConnectionError, quickly."""
    app = App(f"redis://127.0.0.1:{server.port}/0")
    started = time.monotonic()
    with pytest.raises(streamq.ConnectionError) as caught:
        await app.connect()
    await app.aclose()
    assert time.monotonic() - started < 10
    assert "rediss://" in str(caught.value)
