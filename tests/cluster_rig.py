"""Throwaway Redis Cluster and Sentinel deployments for the cluster tests.

Every process is a ``redis-server`` child started here with ``subprocess.Popen`` (never
daemonized), so it is signalled only through its own ``Popen`` object; data lives in a
temporary directory removed by ``stop()``. Everything binds to 127.0.0.1.

Ports come from fixed pools (cluster 7100-7111, Sentinel 6420-6429), in blocks: a rig takes
the first block whose ports are free, under an inter-process lock, so that test sessions
running at the same time on one machine share the pools (a session waits while every block
is taken).

    with ClusterRig(masters=3, replicas=1) as rig:
        url = rig.url            # redis+cluster://127.0.0.1:7100,127.0.0.1:7101/
        rig.kill9(rig.owner_port("{high}"))
"""

from __future__ import annotations

import fcntl
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import pytest
import redis

HOST = "127.0.0.1"
CLUSTER_PORTS = range(7100, 7112)
SENTINEL_PORTS = range(6420, 6430)
BUS_OFFSET = 10_000
"""A cluster node also listens on its port + 10000 (the cluster bus)."""
PORT_LOCK = Path(tempfile.gettempdir()) / "streamq-test-rig-ports.lock"
WAIT_FOR_PORTS_S = 90


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (Debian/Ubuntu: apt-get install redis-server "
                    "redis-tools)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


@contextmanager
def _port_block(pool: range, size: int) -> Iterator[int]:
    """The first port of a free block of ``size`` ports in ``pool``, held under an
    inter-process lock while the caller starts its servers on them."""
    bases = range(pool.start, pool.stop - size + 1, size)
    deadline = time.monotonic() + WAIT_FOR_PORTS_S
    with PORT_LOCK.open("a") as lock:
        while True:
            fcntl.flock(lock, fcntl.LOCK_EX)
            base = next((b for b in bases if all(
                _port_free(p) and _port_free(p + BUS_OFFSET) for p in range(b, b + size))),
                None)
            if base is not None:
                break
            fcntl.flock(lock, fcntl.LOCK_UN)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {size} free ports in {pool.start}-{pool.stop - 1} "
                                   f"after {WAIT_FOR_PORTS_S} s (other test sessions?)")
            time.sleep(1)
        try:
            yield base
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _wait(check: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached within {timeout:g} s")
        time.sleep(0.05)


class _Nodes:
    """redis-server processes started by this rig, by port."""

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.args: dict[int, tuple[tuple[str, ...], bool]] = {}

    def restart(self, port: int) -> None:
        """Start a killed node again, same arguments and data directory."""
        args, sentinel = self.args[port]
        self.start(port, *args, sentinel=sentinel)

    def start(self, port: int, *args: str, sentinel: bool = False) -> None:
        self.args[port] = (args, sentinel)
        if not _port_free(port):
            raise RuntimeError(f"port {port} is already in use: a rig left over? stop it first")
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)
        command = [_binary("redis-server")]
        if sentinel:
            conf = node_dir / "sentinel.conf"
            conf.write_text("\n".join(args) + "\n")
            command += [str(conf), "--sentinel"]
            args = ()
        command += ["--port", str(port), "--bind", HOST, "--dir", str(node_dir),
                    "--logfile", str(node_dir / "redis.log"), *args]
        self.processes[port] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: self.client(port).ping(), f"redis-server on {port} answering", 10)

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port, socket_timeout=2, decode_responses=True)

    def kill9(self, port: int) -> None:
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterRig:
    """``masters`` masters with ``replicas`` replicas each, on consecutive ports of
    :data:`CLUSTER_PORTS`."""

    def __init__(self, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1000) -> None:
        self.ports: list[int] = []
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self._nodes = _Nodes("streamq-cluster-")

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming the first two nodes as seeds."""
        return f"redis+cluster://{HOST}:{self.ports[0]},{HOST}:{self.ports[1]}/"

    def start(self) -> ClusterRig:
        """Start the nodes, create the cluster and wait until it is fully ok."""
        size = self.masters * (1 + self.replicas)
        try:
            with _port_block(CLUSTER_PORTS, size) as base:
                self.ports = list(range(base, base + size))
                for port in self.ports:
                    self._nodes.start(
                        port, "--cluster-enabled", "yes",
                        "--cluster-config-file", str(self._nodes.dir / f"nodes-{port}.conf"),
                        "--cluster-node-timeout", str(self.node_timeout_ms),
                        "--cluster-announce-ip", HOST, "--save", "", "--appendonly", "no",
                        "--repl-diskless-sync-delay", "0")
            subprocess.run(
                [_binary("redis-cli"), "--cluster", "create",
                 *(f"{HOST}:{p}" for p in self.ports), "--cluster-replicas", str(self.replicas),
                 "--cluster-yes"], check=True, capture_output=True, timeout=60)
            _wait(self._all_ok, "cluster_state:ok with every replica synced", 30)
        except BaseException:
            self.stop()
            raise
        return self

    def _all_ok(self) -> bool:
        synced = 0
        for port in self.alive_ports():
            client = self._nodes.client(port)
            info = client.execute_command("CLUSTER", "INFO")
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
            replication = client.info("replication")
            if replication["role"] == "slave":
                if replication.get("master_link_status") != "up" or \
                        replication.get("master_sync_in_progress"):
                    return False
                synced += 1
        return synced >= self.masters * self.replicas

    def alive_ports(self) -> list[int]:
        """Ports whose node has not been killed."""
        return [p for p in self.ports if self._nodes.processes[p].poll() is None]

    def owner_port(self, key: str) -> int:
        """The port of the master currently serving ``key``'s slot."""
        client = self._nodes.client(self.alive_ports()[0])
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise RuntimeError(f"slot {slot} is not served")

    def client(self, port: int) -> redis.Redis:
        """A plain client for one node."""
        return self._nodes.client(port)

    def kill9(self, port: int) -> None:
        """SIGKILL one node (a crash: its replica takes over after the node timeout)."""
        self._nodes.kill9(port)

    def revive(self, port: int, timeout: float = 30) -> None:
        """Restart a killed node (it rejoins, as a replica if it was failed over) and wait
        until every replica is in sync again."""
        self._nodes.restart(port)
        _wait(self._all_ok, "the revived node in sync", timeout)

    def wait_ok(self, timeout: float = 30) -> None:
        """Wait until the surviving nodes agree the cluster is ok again."""
        def ok() -> bool:
            return all("cluster_state:ok" in self._nodes.client(p).execute_command(
                "CLUSTER", "INFO") for p in self.alive_ports())
        _wait(ok, "cluster_state:ok", timeout)

    def stop(self) -> None:
        """Stop every node and delete the data directory."""
        self._nodes.stop()

    def __enter__(self) -> ClusterRig:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SentinelRig:
    """One master, one replica and three sentinels (quorum 2) watching service ``name``,
    on five consecutive ports of :data:`SENTINEL_PORTS`: master, replica, sentinels."""

    def __init__(self, name: str = "streamq", down_after_ms: int = 1000) -> None:
        self.name = name
        self.master_port = self.replica_port = 0
        self.sentinel_ports: list[int] = []
        self.down_after_ms = down_after_ms
        self._nodes = _Nodes("streamq-sentinel-")

    @property
    def url(self) -> str:
        """A ``redis+sentinel://`` URL naming every sentinel."""
        hosts = ",".join(f"{HOST}:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.name}"

    def start(self) -> SentinelRig:
        """Start the master, the replica (synced) and the sentinels (aware of both)."""
        try:
            with _port_block(SENTINEL_PORTS, 5) as base:
                self.master_port, self.replica_port = base, base + 1
                self.sentinel_ports = [base + 2, base + 3, base + 4]
                self._nodes.start(self.master_port, "--save", "", "--appendonly", "no",
                                  "--repl-diskless-sync-delay", "0")
                self._nodes.start(self.replica_port, "--save", "", "--appendonly", "no",
                                  "--replicaof", HOST, str(self.master_port))
                _wait(lambda: self._nodes.client(self.replica_port).info("replication").get(
                    "master_link_status") == "up", "replica in sync", 20)
                # Each sentinel is told its peers and the replica up front: discovering them
                # (hello messages every 2 s, INFO every 10 s) takes several seconds.
                ids = {port: f"{port:040x}" for port in self.sentinel_ports}
                for port in self.sentinel_ports:
                    peers = [f"sentinel known-sentinel {self.name} {HOST} {other} {ids[other]}"
                             for other in self.sentinel_ports if other != port]
                    self._nodes.start(port, f"sentinel myid {ids[port]}",
                                      f"sentinel monitor {self.name} {HOST} {self.master_port} 2",
                                      f"sentinel down-after-milliseconds {self.name} "
                                      f"{self.down_after_ms}",
                                      f"sentinel failover-timeout {self.name} 5000",
                                      f"sentinel parallel-syncs {self.name} 1",
                                      f"sentinel known-replica {self.name} {HOST} "
                                      f"{self.replica_port}", *peers, sentinel=True)
            _wait(self._sentinels_ready, "sentinels aware of each other and the replica", 30)
        except BaseException:
            self.stop()
            raise
        return self

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            state = self._nodes.client(port).sentinel_master(self.name)
            if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                return False
        return True

    def current_master(self) -> int:
        """The port the sentinels currently name as master."""
        _, port = self._nodes.client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(
            self.name)
        return int(port)

    def client(self, port: int) -> redis.Redis:
        """A plain client for one node."""
        return self._nodes.client(port)

    def kill9(self, port: int) -> None:
        """SIGKILL one node."""
        self._nodes.kill9(port)

    def revive(self, port: int, timeout: float = 30) -> None:
        """Restart a killed node; wait until the sentinels see it as the replica it now is."""
        self._nodes.restart(port)

        def rejoined() -> bool:
            master = self.current_master()
            info = self._nodes.client(port).info("replication")
            return (port != master and info.get("master_link_status") == "up"
                    and all(not s["is_sdown"] for s in
                            self._nodes.client(self.sentinel_ports[0]).sentinel_slaves(
                                self.name) if int(s["port"]) == port))
        _wait(rejoined, f"node {port} replicating the new master", timeout)

    def stop(self) -> None:
        """Stop every process and delete the data directory."""
        self._nodes.stop()

    def __enter__(self) -> SentinelRig:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
