"""The local OpenAI-compatible test server, driven by the real `openai` client and raw HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from webapp.llm_testserver import Reply, RuleResponder, ScriptedLLMServer, last_user_text

REPO_ROOT = Path(__file__).resolve().parents[2]


def client_for(server: ScriptedLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0, timeout=10)


def post(conn: http.client.HTTPConnection, body: dict | bytes) -> tuple[int, dict]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", "/v1/chat/completions", body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def chat_body(text: str, model: str = "m") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def test_openai_client_gets_a_proper_chat_completion():
    with ScriptedLLMServer(lambda request: "a papule with scale") as server:
        completion = client_for(server).chat.completions.create(
            model="qwen-test", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
        )
    assert completion.object == "chat.completion"
    assert completion.model == "qwen-test"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "a papule with scale"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens == 3  # "be brief" + "hi"
    assert completion.usage.total_tokens == 7


def test_models_endpoint_lists_the_model():
    with ScriptedLLMServer(model="local-qwen") as server:
        models = client_for(server).models.list()
    assert [m.id for m in models.data] == ["local-qwen"]


def test_records_requests_and_headers_in_arrival_order():
    with ScriptedLLMServer() as server:
        client = client_for(server)
        for i in range(3):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"msg {i}"}])
        assert server.request_count == 3
        assert [last_user_text(r) for r in server.requests] == ["msg 0", "msg 1", "msg 2"]
        assert server.headers[0]["authorization"] == "Bearer sk-local"
        server.reset()
        assert server.request_count == 0


def test_rule_responder_tries_rules_in_order():
    responder = RuleResponder(
        [
            (r"diagnos(e|is)", '{"topK_diseases": []}'),
            (lambda request: request.get("model") == "judge-model", "exact"),
            ("fail me", Reply(status=503)),
            ("echo", lambda request: last_user_text(request).upper()),
        ],
        default="fallback",
    )
    with ScriptedLLMServer(responder) as server:
        client = client_for(server)

        def ask(text: str, model: str = "m") -> str:
            return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}]) \
                .choices[0].message.content

        assert ask("please diagnose this") == '{"topK_diseases": []}'
        assert ask("anything", model="judge-model") == "exact"
        assert ask("echo this") == "ECHO THIS"
        assert ask("unmatched") == "fallback"
        with pytest.raises(openai.InternalServerError) as info:
            ask("fail me")
        assert info.value.status_code == 503


def test_last_user_text_reads_text_parts_of_the_last_user_message():
    request = {"messages": [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "describe"},
        ]},
    ]}
    assert last_user_text(request) == "describe"
    assert last_user_text({"messages": []}) == ""


def test_failure_injection_rate_and_status_are_reproducible_with_a_seed():
    def statuses(seed: int) -> list[int]:
        with ScriptedLLMServer(failure_rate=0.3, failure_status=429, seed=seed) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            return [post(conn, chat_body(f"q{i}"))[0] for i in range(200)]

    first = statuses(seed=7)
    assert set(first) == {200, 429}
    assert 40 <= first.count(429) <= 80  # 30 % of 200, loosely
    assert statuses(seed=7) == first
    assert statuses(seed=8) != first


def test_injected_error_has_an_openai_style_body():
    with ScriptedLLMServer(failure_rate=1.0, failure_status=500) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        status, body = post(conn, chat_body("x"))
    assert status == 500 and body["error"]["code"] == 500 and "injected" in body["error"]["message"]


def test_keep_alive_serves_many_requests_on_one_connection():
    with ScriptedLLMServer() as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        results = [post(conn, chat_body(f"n{i}")) for i in range(5)]
        local_port = conn.sock.getsockname()[1]
        post(conn, chat_body("again"))
        assert conn.sock.getsockname()[1] == local_port  # still the same TCP connection
    assert [body["choices"][0]["message"]["content"] for _, body in results] == [f"n{i}" for i in range(5)]


def test_concurrent_requests_are_served_in_parallel():
    with ScriptedLLMServer(latency_s=0.2) as server:
        def one(i: int) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            return post(conn, chat_body(f"p{i}"))[0]

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(one, range(16)))
        elapsed = time.perf_counter() - started
        assert codes == [200] * 16
        assert server.max_in_flight == 16
    assert elapsed < 1.0  # serially it would take 3.2 s


def test_reply_delay_overrides_latency():
    with ScriptedLLMServer(lambda r: Reply("slow", delay_s=0.3), latency_s=0.0) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        started = time.perf_counter()
        post(conn, chat_body("x"))
    assert time.perf_counter() - started >= 0.3


def test_rejects_bodies_that_are_not_chat_requests():
    with ScriptedLLMServer() as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        status, body = post(conn, b"{not json")
        assert status == 400 and "not JSON" in body["error"]["message"]
        status, body = post(conn, {"model": "m"})
        assert status == 400 and "messages" in body["error"]["message"]
        assert server.request_count == 0


def test_command_line_server_with_rules_file(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({
        "rules": [{"pattern": "melanoma", "reply": "refer to dermatology"},
                  {"pattern": "broken", "reply": {"status": 502}}],
        "default": "benign",
    }))
    with socket.socket() as probe:  # find a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.llm_testserver", "--port", str(port), "--latency", "0", "--rules", str(rules)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert "serving" in process.stdout.readline()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=5)

        def ask(text: str) -> str:
            return client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}]) \
                .choices[0].message.content

        assert ask("could this be melanoma?") == "refer to dermatology"
        assert ask("a freckle") == "benign"
        with pytest.raises(openai.InternalServerError):
            ask("broken")
    finally:
        process.terminate()
        process.wait(timeout=10)
