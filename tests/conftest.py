"""Service fixtures: real PostgreSQL, SQLite and Redis, never mocks (DESIGN §9).

PostgreSQL: the server at ``$ADAPTIVE_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432``) when it answers; otherwise a
throwaway server (testcontainers when Docker works, else ``initdb`` +
``pg_ctl`` on a free port); otherwise the tests fail, saying why. Every
database the fixtures create has a unique name and is dropped afterwards.

Redis: ``$ADAPTIVE_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``) or a
throwaway ``redis-server``; each test gets its own key prefix, deleted after.

Redis Cluster: always three throwaway ``redis-server`` processes on loopback,
joined by ``redis-cli --cluster create`` once per session; each test gets its
own braced key prefix (``{adaptive_test_…}:``), deleted after.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adaptive.storage.sql import migrate

POSTGRES_ENV = "ADAPTIVE_TEST_POSTGRES"
REDIS_ENV = "ADAPTIVE_TEST_REDIS"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SERVER_START_TIMEOUT_S = 60.0


# -- PostgreSQL ---------------------------------------------------------------


@dataclass
class PostgresServer:
    """A reachable PostgreSQL server the tests may create databases on."""

    url: str
    """``postgresql://user@host:port`` without a database name."""

    def database_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create_database(self, *, template: str | None = None) -> str:
        """A new, uniquely named database (optionally a copy of ``template``); its URL."""
        name = f"adaptive_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self._admin(f'CREATE DATABASE "{name}"{clause}')
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        asyncio.run(_execute(self.database_url("postgres"), statement))


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _answers(url: str) -> bool:
    try:
        asyncio.run(
            _execute(make_url(url).set(database="postgres").render_as_string(False), "SELECT 1")
        )
    except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError):
        return False
    return True


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until(ready: Any, what: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready within {SERVER_START_TIMEOUT_S:.0f}s")
        time.sleep(0.2)


def _postgres_from_testcontainers(stack: ExitStack) -> str | None:
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
    except Exception:  # Docker missing or not running: try the next way
        return None
    url: str = container.get_connection_url()
    return make_url(url).set(database=None).render_as_string(hide_password=False)


def _postgres_binaries() -> tuple[str, str] | None:
    """``initdb`` and ``pg_ctl``, from PATH or the usual Debian/Ubuntu location."""
    candidates = [Path(shutil.which("initdb") or "/nonexistent").parent]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in candidates:
        initdb, pg_ctl = directory / "initdb", directory / "pg_ctl"
        if initdb.is_file() and pg_ctl.is_file():
            return str(initdb), str(pg_ctl)
    return None


def _postgres_from_binaries(stack: ExitStack) -> str | None:
    binaries = _postgres_binaries()
    if binaries is None:
        return None
    initdb, pg_ctl = binaries
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None or _uid_of("postgres") is None:
            return None
        run_as = ["runuser", "-u", "postgres", "--"]
    scratch = Path(tempfile.mkdtemp(prefix="adaptive-pg-"))
    stack.callback(shutil.rmtree, scratch, ignore_errors=True)
    data = scratch / "data"
    if run_as:
        shutil.chown(scratch, user="postgres")
    port = _free_port()
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {scratch} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(scratch / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    stack.callback(
        subprocess.run,
        [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
        capture_output=True,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}"
    _wait_until(lambda: _answers(url), f"throwaway PostgreSQL on port {port}")
    return url


def _uid_of(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server: the configured one if it answers, else a throwaway one."""
    configured = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)
    if _answers(configured):
        yield PostgresServer(configured)
        return
    with ExitStack() as stack:
        url = _postgres_from_testcontainers(stack) or _postgres_from_binaries(stack)
        if url is None:
            pytest.fail(
                f"no PostgreSQL for the tests: {configured} does not answer (set {POSTGRES_ENV}), "
                "Docker/testcontainers is unavailable, and no initdb/pg_ctl binaries were found "
                "(install PostgreSQL, e.g. apt-get install postgresql)",
                pytrace=False,
            )
        yield PostgresServer(url)


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A database migrated to head, copied by every test that needs a fresh one."""
    url = postgres_server.create_database()
    try:
        asyncio.run(migrate.upgrade(url))
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    """A database at head shared by the session; tests keep apart by agent id."""
    url = postgres_server.create_database(template=make_url(postgres_template).database)
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    """A database at head of this test's own."""
    url = postgres_server.create_database(template=make_url(postgres_template).database)
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
def empty_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of this test's own with no schema at all."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


# -- SQLite -------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A database file of this test's own (created, and migrated, on first open)."""
    return f"sqlite:///{tmp_path / 'adaptive.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest) -> str:
    """Each SQL dialect in turn, as a database of the test's own at head (SQLite: on open)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "fresh_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


# -- Redis --------------------------------------------------------------------


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


class ThrowawayRedis:
    """A ``redis-server`` of the test's own on a free loopback port, to stop, kill or restart.

    Never the shared server: tests that take Redis away use one of these.
    Extra arguments go to ``redis-server`` (e.g. ``--cluster-enabled yes``).
    """

    def __init__(self, *arguments: str, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed (e.g. apt-get install redis-server): the tests "
                "that stop or restart Redis start a throwaway one",
                pytrace=False,
            )
        self.binary = binary
        self.arguments = arguments
        self.port = port if port is not None else _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="adaptive-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowawayRedis:
        """Start (or restart) the server on the same port; returns once it answers PING."""
        if self._process is not None and self._process.poll() is None:
            return self
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.arguments,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(lambda: _redis_answers(self.url), f"throwaway redis-server on {self.port}")
        return self

    def stop(self) -> None:
        """SIGTERM and wait: a clean shutdown."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-command, as in a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis server URL: the configured one if it answers, else a throwaway redis-server."""
    configured = os.environ.get(REDIS_ENV, DEFAULT_REDIS)
    if _redis_answers(configured):
        yield configured
        return
    server = ThrowawayRedis()
    try:
        yield server.start().url
    finally:
        server.close()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A started redis-server of this test's own, which the test may stop, kill and restart."""
    server = ThrowawayRedis()
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The Redis URL with a ``key_prefix`` of this test's own; its keys are deleted after."""
    import redis

    prefix = f"adaptive_test:{uuid.uuid4().hex[:12]}:"
    yield f"{redis_server}?key_prefix={prefix}"
    client = redis.Redis.from_url(redis_server)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- Redis Cluster ---------------------------------------------------------------

CLUSTER_NODES = 3


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held at once, so none is handed out twice)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


class ThrowawayRedisCluster:
    """Three cluster-enabled ``redis-server`` processes of the session, one shard each.

    Each node has its own directory (so its own ``nodes.conf``) and an explicit
    cluster bus port: the default, port + 10000, may be taken or past 65535.
    """

    def __init__(self) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail(
                "redis-cli is not installed (e.g. apt-get install redis-tools): the "
                "Redis Cluster tests join throwaway redis-server processes with it",
                pytrace=False,
            )
        self.cli = cli
        ports = _free_ports(2 * CLUSTER_NODES)
        self.nodes = [
            ThrowawayRedis(
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                str(bus_port),
                "--cluster-node-timeout",
                "5000",
                port=port,
            )
            for port, bus_port in zip(ports[0::2], ports[1::2], strict=True)
        ]

    @property
    def seeds(self) -> str:
        """``host:port,host:port,...`` of every node, as a ``redis+cluster://`` URL lists them."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def url(self, key_prefix: str) -> str:
        return f"redis+cluster://{self.seeds}/?key_prefix={key_prefix}"

    def start(self) -> ThrowawayRedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        create = [self.cli, "--cluster", "create", *addresses]
        subprocess.run(
            [*create, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=SERVER_START_TIMEOUT_S,
        )
        _wait_until(self._ready, f"Redis Cluster on {self.seeds}")
        return self

    def _ready(self) -> bool:
        """Every node says the cluster is ok and knows every other node."""
        import redis

        for node in self.nodes:
            client = redis.Redis(port=node.port, socket_connect_timeout=2)
            try:
                info = client.cluster("info")
            finally:
                client.close()
            if info.get("cluster_state") != "ok" or int(info["cluster_known_nodes"]) != len(
                self.nodes
            ):
                return False
        return True

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ThrowawayRedisCluster]:
    """A three-node Redis Cluster on loopback, started once per session."""
    cluster = ThrowawayRedisCluster()
    try:
        yield cluster.start()
    finally:
        cluster.close()


@pytest.fixture
def cluster_prefix(redis_cluster: ThrowawayRedisCluster) -> Iterator[str]:
    """A braced key prefix of this test's own on the cluster; its keys are deleted after."""
    import redis.cluster

    prefix = f"{{adaptive_test_{uuid.uuid4().hex[:12]}}}:"
    yield prefix
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_cluster_url(redis_cluster: ThrowawayRedisCluster, cluster_prefix: str) -> str:
    """``redis+cluster://`` with every node as a seed and this test's braced prefix."""
    return redis_cluster.url(cluster_prefix)


# -- the NeMo Relay reference sample ---------------------------------------------

from tests.reference import (  # noqa: E402, F401  (fixtures are found by name)
    sample_accumulators,
    sample_requests,
    sample_runs,
    sample_state,
    sample_trie,
)
