"""A small OpenAI-compatible chat-completions server for tests and local development.

Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on loopback, with
replies chosen by a responder (scripted or rule-driven), a configurable
per-request latency, and random failure injection. One thread per connection
(HTTP/1.1 keep-alive), so many requests can be in flight at once, each
sleeping its latency in parallel.

Run it for local development::

    python -m webapp.llm_testserver --port 8009 --latency 0.1 [--rules rules.json]

``rules.json``: ``{"rules": [{"pattern": "regex", "reply": "text"}, ...], "default": "text"}``. The first
rule whose regex is found in the last user message's text answers. A reply may also be
``{"text": ..., "status": 500, "delay_s": 2.0}``, or ``{"demo": "drafter"}``: the named handler of the demo
stand-in model (webapp/demo_llm.py: drafter, structurer, diagnoser, judge, scorer, fallback) writes it, with
an optional ``delay_s``. Without ``--rules`` the server echoes the user text. The shipped demo rule set is
``webapp/demo_llm_rules.json`` (what ``bin/run`` starts)::

    python -m webapp.llm_testserver --port 8009 --rules webapp/demo_llm_rules.json

With ``SKINFLOW_PARENT_PID`` set (``bin/run`` sets it) the server stops when that process ends.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Sequence

from webapp.parent_watch import watch_parent

__all__ = ["Reply", "RuleResponder", "ScriptedLLMServer", "last_user_text", "main"]


@dataclass
class Reply:
    """A scripted reply: text, or an HTTP error ``status``; ``delay_s`` overrides the server latency."""

    text: str = ""
    status: int = 200
    delay_s: float | None = None


Responder = Callable[[dict], "str | Reply"]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def last_user_text(request: dict) -> str:
    """The text of the last ``user`` message of a chat-completions request (text parts joined)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _echo(request: dict) -> str:
    return last_user_text(request)


class RuleResponder:
    """Replies by the first matching rule.

    A rule's matcher is a regex (searched in the last user message's text) or a
    predicate on the request; its reply is a string, a :class:`Reply`, or a
    callable producing either from the request.
    """

    def __init__(
        self,
        rules: Sequence[tuple[str | Callable[[dict], bool], str | Reply | Callable[[dict], str | Reply]]],
        default: str | Reply | Callable[[dict], str | Reply] = "",
    ) -> None:
        self._rules = [(re.compile(m) if isinstance(m, str) else m, reply) for m, reply in rules]
        self.default = default

    @classmethod
    def from_json(cls, spec: Any) -> "RuleResponder":
        """Build from ``{"rules": [{"pattern", "reply"}], "default": ...}`` (or a bare list of rules)."""

        demo: Any = None

        def to_reply(value: Any) -> str | Reply | Callable[[dict], str | Reply]:
            nonlocal demo
            if isinstance(value, dict) and "demo" in value:
                from webapp.demo_llm import HANDLERS, DemoLLM

                handler = HANDLERS.get(value["demo"])
                if handler is None:
                    raise ValueError(f"unknown demo handler {value['demo']!r}; choose from {', '.join(HANDLERS)}")
                demo = demo or DemoLLM()  # one stand-in model per rule set: it remembers repeated requests
                model, delay = demo, value.get("delay_s")
                return lambda request: Reply(handler(model, request), delay_s=delay)
            return Reply(**value) if isinstance(value, dict) else str(value)

        rules_spec = spec.get("rules", []) if isinstance(spec, dict) else spec
        default = to_reply(spec.get("default", "")) if isinstance(spec, dict) else ""
        return cls([(r["pattern"], to_reply(r["reply"])) for r in rules_spec], default=default)

    def __call__(self, request: dict) -> str | Reply:
        text = last_user_text(request)
        for matcher, reply in self._rules:
            hit = matcher.search(text) is not None if isinstance(matcher, re.Pattern) else matcher(request)
            if hit:
                return reply(request) if callable(reply) else reply
        return self.default(request) if callable(self.default) else self.default


def _count_tokens(text: str) -> int:
    # Whitespace words are a stable, dependency-free stand-in for a tokenizer.
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body go out without waiting for an ACK
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send_json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during our delay).
            self.close_connection = True

    def _error(self, status: int, message: str) -> None:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_error"}.get(status, "server_error")
        self._send_json(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [
                {"id": self.server.owner.model, "object": "model", "created": 0, "owned_by": "skinflow-test"}]})
        else:
            self._error(404, f"no route for GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route for POST {self.path}")
            return
        try:
            request = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            self._error(400, f"request body is not JSON: {exc}")
            return
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            self._error(400, "request must be a JSON object with a 'messages' list")
            return
        owner = self.server.owner
        owner._enter(request, {k.lower(): v for k, v in self.headers.items()})
        try:
            status, text, delay = owner._decide(request)
            if delay > 0:
                time.sleep(delay)
        finally:
            owner._leave()
        if status != 200:
            self._error(status, f"injected failure (HTTP {status})")
            return
        prompt_tokens = sum(_count_tokens(_content_text(m.get("content")))
                            for m in request["messages"] if isinstance(m, dict))
        completion_tokens = _count_tokens(text)
        self._send_json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or owner.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many clients may connect at the same instant
    owner: "ScriptedLLMServer"


class ScriptedLLMServer:
    """OpenAI-compatible server on loopback; a context manager (or ``start()``/``stop()``).

    ``requests`` holds every chat-completions body received, in arrival order;
    ``headers`` the matching request headers, names lower-cased (e.g. ``authorization``);
    ``max_in_flight`` the most requests it was ever handling at once.
    """

    def __init__(
        self,
        responder: Callable[[dict], str | Reply] | None = None,
        *,
        latency_s: float = 0.0,
        failure_rate: float = 0.0,
        failure_status: int = 500,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "scripted-llm",
    ) -> None:
        self.responder = responder or _echo
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.failure_status = failure_status
        self.model = model
        self._host, self._port = host, port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._headers: list[dict] = []
        self._arrivals: list[float] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> "ScriptedLLMServer":
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._port = httpd.server_address[1]  # keep a port picked by the OS: restart and base_url reuse it
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "ScriptedLLMServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -------------------------------------------------------------- introspection

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("server not started yet, so it has no port")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict]:
        with self._lock:
            return list(self._headers)

    @property
    def arrival_times(self) -> list[float]:
        """``time.monotonic()`` at which each request arrived, in arrival order."""
        with self._lock:
            return list(self._arrivals)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def reset(self) -> None:
        """Forget recorded requests and the in-flight maximum (the server keeps running)."""
        with self._lock:
            self._requests.clear()
            self._headers.clear()
            self._arrivals.clear()
            self.max_in_flight = self._in_flight

    # -------------------------------------------------------------- used by the handler

    def _enter(self, request: dict, headers: dict) -> None:
        with self._lock:
            self._requests.append(request)
            self._headers.append(headers)
            self._arrivals.append(time.monotonic())
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _decide(self, request: dict) -> tuple[int, str, float]:
        """(status, text, delay) for one request: injected failure first, else the responder."""
        with self._lock:
            injected = self.failure_rate > 0 and self._rng.random() < self.failure_rate
        if injected:
            return self.failure_status, "", self.latency_s
        reply = self.responder(request)
        if isinstance(reply, Reply):
            delay = self.latency_s if reply.delay_s is None else reply.delay_s
            return reply.status, reply.text, delay
        return 200, str(reply), self.latency_s


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible chat-completions server for development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8009)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--rules", type=Path, help="JSON file with reply rules (default: echo the user text)")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--failure-status", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    responder = RuleResponder.from_json(json.loads(args.rules.read_text())) if args.rules else None
    server = ScriptedLLMServer(responder, latency_s=args.latency, failure_rate=args.failure_rate,
                               failure_status=args.failure_status, seed=args.seed, host=args.host, port=args.port)
    server.start()
    print(f"serving OpenAI-compatible chat completions at {server.base_url} (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    # Started by bin/run: end with it, whichever way it ended (webapp/parent_watch.py says why).
    watch_parent(stop.set)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
