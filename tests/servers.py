"""Throwaway redis-server processes with special settings (TLS, ACL users, maxmemory,
renamed commands), for the tests that need a server of their own. Each runs on a free port
in a temporary directory and is stopped (by the pid it was started with) afterwards."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis_server import _free_port


@dataclass(frozen=True)
class TlsFiles:
    """A CA, a server and a client certificate signed by it, and an unrelated CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


@dataclass(frozen=True)
class Server:
    """A running throwaway server: where it listens, and its admin client's options."""

    port: int
    url: str
    admin: dict[str, Any]

    def client(self) -> redis.Redis:
        """A synchronous admin client (the default user)."""
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True,
                           **self.admin)


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_certs(directory: Path) -> TlsFiles:
    """Generate the certificates with ``openssl`` (2-day validity, 127.0.0.1 as the name)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (apt-get install openssl)")
    d = directory
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", f"/CN=streamq test {ca}", "-keyout", d / f"{ca}.key",
                 "-out", d / f"{ca}.crt")
    for who in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=127.0.0.1 {who}",
                 "-keyout", d / f"{who}.key", "-out", d / f"{who}.csr")
        ext = d / f"{who}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if who == "server"
                       else "extendedKeyUsage=clientAuth\n")
        _openssl("x509", "-req", "-in", d / f"{who}.csr", "-CA", d / "ca.crt",
                 "-CAkey", d / "ca.key", "-CAcreateserial", "-days", "2",
                 "-extfile", ext, "-out", d / f"{who}.crt")
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt",
                    d / "client.key", d / "other-ca.crt")


@contextmanager
def redis_server(*args: str, tls: TlsFiles | None = None) -> Iterator[Server]:
    """Start ``redis-server`` with ``args`` (and TLS only, with client certificates
    required, when ``tls`` is given); stop it and delete its directory afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="streamq-test-server-")
    command = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", workdir]
    admin: dict[str, Any] = {}
    if tls is None:
        command += ["--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
    else:
        command += ["--port", "0", "--tls-port", str(port), "--tls-cert-file",
                    str(tls.server_cert), "--tls-key-file", str(tls.server_key),
                    "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "yes"]
        admin = {"ssl": True, "ssl_ca_certs": str(tls.ca), "ssl_certfile": str(tls.client_cert),
                 "ssl_keyfile": str(tls.client_key)}
        url = (f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tls.ca}"
               f"&ssl_certfile={tls.client_cert}&ssl_keyfile={tls.client_key}")
    process = subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    server = Server(port, url, admin)
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_up(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited at start (code {process.returncode})")
        client = server.client()
        try:
            if client.ping():
                return
        except (redis.RedisError, OSError):
            time.sleep(0.05)
        finally:
            client.close()
    pytest.fail(f"redis-server on port {server.port} did not answer within 10 s")
