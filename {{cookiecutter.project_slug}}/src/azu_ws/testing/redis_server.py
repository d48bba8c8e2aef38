"""A real redis-server for the scale-out tests, on a free port: skips where none is installed,
fails under CI=true, since a skipped test is not a passed one."""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from .served import WAIT, free_port, system_binary


def redis_server_binary() -> str:
    return system_binary("redis-server", "the Redis tests")


@dataclass
class RedisServer:
    binary: str
    workdir: Path
    port: int
    process: "subprocess.Popen[bytes] | None" = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(  # noqa: S603 - redis-server, found on PATH
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + WAIT * 2
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stall(self, seconds: float) -> threading.Timer:
        """Freeze redis-server for `seconds` from now, as a long command or a slow disk
        would: it keeps its connections and answers nothing until then."""
        assert self.process is not None, "not running"
        os.kill(self.process.pid, signal.SIGSTOP)
        thaw = threading.Timer(seconds, os.kill, (self.process.pid, signal.SIGCONT))
        thaw.start()
        return thaw

    def stop(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stalled one dies too
            self.process.kill()  # as a crash would: no goodbye to the clients
            self.process.wait(timeout=WAIT)
            self.process = None


@contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_server_binary(), workdir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
