#!/usr/bin/env python3
"""Run a command with throw-away PostgreSQL and Redis servers on loopback.

    python scripts/with_services.py -- pytest -q

Servers come from the system's binaries (Debian: postgresql, redis-server), run in a temporary folder on
free ports, and are stopped and deleted afterwards whatever the command's outcome. PostgreSQL refuses to
run as root, so as root the cluster is owned by and started as the ``postgres`` user. When DATABASE_URL
already points at PostgreSQL and CELERY_BROKER_URL at Redis, nothing is started.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        sys.exit(f"{name} not found: install Debian's postgresql and redis-server packages "
                 "(apt-get install -y postgresql redis-server)")
    return found


def as_postgres_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def wait_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start on port {port} within {timeout:.0f} s")


class PostgresServer:
    """A throw-away PostgreSQL cluster on a free loopback port; ``stop`` and ``start`` again keep its data
    (the fault drill restarts it mid-run)."""

    def __init__(self, root: Path) -> None:
        self.initdb, self.pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        self.data, sock = root / "pg", root / "pgsock"
        self.log = root / "pg.log"
        sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(sock, "postgres")
        subprocess.run(as_postgres_user([self.initdb, "-D", str(self.data), "-U", "skinflow", "--auth=trust",
                                         "-E", "UTF8", "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        self.opts = f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not os.environ.get("SKINFLOW_PG_DURABLE"):
            # Durability is pointless for a throw-away test database; turning it off makes the suite faster.
            # Benchmarks that should see a production-like server set SKINFLOW_PG_DURABLE=1.
            self.opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.url = f"postgres://skinflow@127.0.0.1:{self.port}/postgres"
        self.start()

    def start(self) -> None:
        subprocess.run(as_postgres_user([self.pg_ctl, "-D", str(self.data), "-o", self.opts, "-l", str(self.log),
                                         "-w", "start"]), check=True, stdout=subprocess.DEVNULL)
        wait_port(self.port, "PostgreSQL")

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run(as_postgres_user([self.pg_ctl, "-D", str(self.data), "-m", mode, "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class RedisServer:
    """A throw-away Redis without persistence on a free loopback port; ``stop`` loses every queued message
    (as a restart without persistence does) and ``start`` comes back empty on the same port."""

    def __init__(self, root: Path) -> None:
        self.root, self.port, self.proc = root, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([find_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.root)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, "Redis")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        sys.exit("usage: with_services.py -- COMMAND [ARGS...]")
    env = dict(os.environ)
    stops = []
    root = Path(tempfile.mkdtemp(prefix="skinflow-services-"))
    os.chmod(root, 0o755)
    try:
        if not env.get("DATABASE_URL", "").startswith("postgres"):
            pg = PostgresServer(root)
            env["DATABASE_URL"] = pg.url
            stops.append(pg.stop)
        if not env.get("CELERY_BROKER_URL", "").startswith("redis"):
            redis = RedisServer(root)
            env["CELERY_BROKER_URL"] = redis.url
            stops.append(redis.stop)
        env["SKINFLOW_REQUIRE_SERVICES"] = "1"
        data = root / "data"
        data.mkdir()
        env.setdefault("SKINFLOW_DATA_DIR", str(data))
        print(f"PostgreSQL: {env['DATABASE_URL']}\nRedis: {env['CELERY_BROKER_URL']}", flush=True)
        return subprocess.call(argv, env=env)
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
