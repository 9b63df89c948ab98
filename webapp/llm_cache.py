"""Content-addressed response cache for the LLM gateway (pure Python).

The key is a sha256 over the canonical JSON of everything that determines a
reply: endpoint base URL, model, messages and sampling parameters (including the
caller's ``cache_salt``). The API key is deliberately not part of it: rotating a
key must not invalidate paid-for answers.

Values are small dicts (reply text, served model, token counts). Only replies
that came back with HTTP success are stored; JSON parsing happens after the
cache, so a reply that is not valid JSON is never cached *as* JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from webapp.llm import EndpointConfig

__all__ = ["ResponseCache", "MemoryCache", "SQLiteCache", "cache_key"]


def cache_key(endpoint: "EndpointConfig", messages: list[dict], params: dict) -> str:
    """sha256 (hex) of the canonical JSON of (base_url, model, messages, params)."""
    payload = {
        "base_url": endpoint.base_url.rstrip("/"),
        "model": endpoint.model,
        "messages": messages,
        "params": params,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@runtime_checkable
class ResponseCache(Protocol):
    def get(self, key: str) -> dict | None: ...

    def set(self, key: str, value: dict) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryCache:
    """In-process dict cache; thread-safe. Lost when the process ends."""

    def __init__(self) -> None:
        self._data: dict[str, dict] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            value = self._data.get(key)
        return dict(value) if value is not None else None

    def set(self, key: str, value: dict) -> None:
        with self._lock:
            self._data[key] = dict(value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class SQLiteCache:
    """Cache in one SQLite file, shared by every process and thread on a machine.

    WAL mode lets readers proceed while one writer writes; ``busy_timeout`` makes
    concurrent writers wait instead of failing. Each (process, thread) gets its own
    connection because sqlite3 connections must not cross threads or a fork.
    """

    def __init__(self, path: str | os.PathLike, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS llm_response_cache ("
            " key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL NOT NULL)"
        )

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable enough for a cache, much faster
            local.conn, local.pid = conn, os.getpid()
        return local.conn

    def get(self, key: str) -> dict | None:
        row = self._conn().execute("SELECT value FROM llm_response_cache WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set(self, key: str, value: dict) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO llm_response_cache (key, value, created_at) VALUES (?, ?, ?)",
            (key, json.dumps(value, ensure_ascii=False), time.time()),
        )

    def delete(self, key: str) -> None:
        self._conn().execute("DELETE FROM llm_response_cache WHERE key = ?", (key,))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM llm_response_cache").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.__dict__.clear()

