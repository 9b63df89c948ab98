"""The LLM gateway, driven through the real `openai` client against the local test server."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from webapp.llm import (
    ROLES,
    CallRecord,
    EndpointConfig,
    JSONExtractionError,
    LLMError,
    LLMGateway,
    MemoryCache,
    SQLiteCache,
    cache_key,
    extract_json,
    image_data_url,
    user_message,
)
from webapp.llm_testserver import Reply, RuleResponder, ScriptedLLMServer

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


class Script:
    """Responder that plays the given replies in order, then repeats the last one."""

    def __init__(self, *replies: str | Reply) -> None:
        self.replies = list(replies)
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> str | Reply:
        with self._lock:
            reply = self.replies[min(self.calls, len(self.replies) - 1)]
            self.calls += 1
        return reply


@pytest.fixture
def server():
    with ScriptedLLMServer() as srv:
        yield srv


def make_gateway(server: ScriptedLLMServer, role: str = "judge", cache=None, on_call=None, **config) -> LLMGateway:
    endpoint = EndpointConfig(role=role, base_url=server.base_url, model="test-model", **config)
    return LLMGateway({role: endpoint}, cache=cache, on_call=on_call)


@pytest.fixture
def gateways():
    """Collects gateways made by a test and closes them afterwards."""
    made: list[LLMGateway] = []
    yield made
    for gateway in made:
        gateway.close()


# --------------------------------------------------------------------------- JSON extraction


class TestExtractJson:
    def test_plain_json(self):
        assert extract_json('{"a": 1, "b": [1, 2]}') == {"a": 1, "b": [1, 2]}

    def test_json_code_fence_with_prose_around(self):
        text = 'Here is the caption:\n```json\n{"lesion_type": "papule"}\n```\nHope this helps.'
        assert extract_json(text) == {"lesion_type": "papule"}

    def test_bare_fence_without_language(self):
        assert extract_json("```\n[1, 2, 3]\n```") == [1, 2, 3]

    def test_prose_before_and_after_without_fence(self):
        text = 'Sure. The answer is {"disease": "psoriasis", "probability": 0.7} as requested.'
        assert extract_json(text) == {"disease": "psoriasis", "probability": 0.7}

    def test_braces_and_quotes_inside_strings(self):
        text = 'Result: {"reason": "looks like a {ring} with \\"scale\\" and }", "ok": true} end'
        assert extract_json(text) == {"reason": 'looks like a {ring} with "scale" and }', "ok": True}

    def test_nested_objects(self):
        text = 'x {"outer": {"inner": {"deep": [1, {"k": "v"}]}}} y'
        assert extract_json(text) == {"outer": {"inner": {"deep": [1, {"k": "v"}]}}}

    def test_answer_tags_after_thinking(self):
        text = (
            '<think>maybe {"wrong": 1}?</think>\n'
            '<answer>{"topK_diseases": [{"disease": "eczema", "probability": 0.6}]}</answer>'
        )
        assert extract_json(text) == {"topK_diseases": [{"disease": "eczema", "probability": 0.6}]}

    def test_longest_payload_wins_over_a_bracketed_aside(self):
        text = 'Pick one of [1, 2]: {"choice": 2, "why": "bigger"}'
        assert extract_json(text) == {"choice": 2, "why": "bigger"}

    def test_reply_cut_off_inside_an_unterminated_fence(self):
        assert extract_json('```json\n{"a": 1}\n') == {"a": 1}

    def test_no_json_gives_clear_error(self):
        with pytest.raises(JSONExtractionError, match="no JSON object or array found") as info:
            extract_json("I cannot determine the diagnosis from this image.")
        assert info.value.text == "I cannot determine the diagnosis from this image."

    def test_broken_json_gives_clear_error(self):
        with pytest.raises(JSONExtractionError, match="no JSON"):
            extract_json('{"a": 1, "b": }')

    def test_empty_reply(self):
        with pytest.raises(JSONExtractionError, match="empty"):
            extract_json("   ")


# --------------------------------------------------------------------------- pure helpers


def test_roles_are_the_five_pipeline_roles():
    assert ROLES == ("drafter", "structurer", "diagnoser", "judge", "scorer")


def test_image_data_url_from_bytes_and_path(tmp_path):
    url = image_data_url(PNG_BYTES)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG_BYTES

    path = tmp_path / "lesion.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"jpegdata")
    assert image_data_url(path).startswith("data:image/jpeg;base64,")
    assert image_data_url(str(path), mime="image/webp").startswith("data:image/webp;base64,")
    assert image_data_url(url) == url  # already a data URL


def test_image_data_url_unknown_type_is_an_error():
    with pytest.raises(ValueError, match="mime="):
        image_data_url(b"not an image")


def test_cache_key_covers_endpoint_model_messages_and_params():
    endpoint = EndpointConfig("judge", "http://h/v1", "m1")
    messages = [user_message("hi")]
    params = {"temperature": 0.0, "max_tokens": None, "cache_salt": ""}
    key = cache_key(endpoint, messages, params)
    assert key == cache_key(EndpointConfig("judge", "http://h/v1/", "m1"), messages, dict(params))
    assert key != cache_key(EndpointConfig("judge", "http://h/v1", "m2"), messages, params)
    assert key != cache_key(EndpointConfig("judge", "http://other/v1", "m1"), messages, params)
    assert key != cache_key(endpoint, [user_message("hi!")], params)
    assert key != cache_key(endpoint, messages, {**params, "temperature": 0.7})
    assert key != cache_key(endpoint, messages, {**params, "cache_salt": "repeat=2"})


# --------------------------------------------------------------------------- calls over HTTP


def test_chat_returns_reply_with_tokens_and_latency(server, gateways):
    server.latency_s = 0.05
    records: list[CallRecord] = []
    gateway = make_gateway(server, on_call=records.append)
    gateways.append(gateway)

    result = gateway.chat("judge", [user_message("three word prompt")])

    assert result.text == "three word prompt"  # the default responder echoes
    assert (result.prompt_tokens, result.completion_tokens) == (3, 3)
    assert result.latency_s >= 0.05 and result.attempts == 1 and not result.cached
    assert server.requests[0]["model"] == "test-model"
    assert server.requests[0]["temperature"] == 0.0
    [record] = records
    assert record.ok and record.role == "judge" and record.model == "test-model"
    assert (record.prompt_tokens, record.completion_tokens) == (3, 3)
    assert record.latency_s >= 0.05 and record.cache_key == result.cache_key
    stats = gateway.stats
    assert (stats.http_requests, stats.prompt_tokens, stats.completion_tokens) == (1, 3, 3)


def test_temperature_and_max_tokens_are_sent(server, gateways):
    gateway = make_gateway(server, temperature=0.3)
    gateways.append(gateway)
    gateway.chat("judge", [user_message("a")])
    gateway.chat("judge", [user_message("a")], temperature=0.9, max_tokens=17)
    first, second = server.requests
    assert first["temperature"] == 0.3 and "max_tokens" not in first
    assert second["temperature"] == 0.9 and second["max_tokens"] == 17


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_http_errors_are_retried(status, gateways):
    with ScriptedLLMServer(Script(Reply(status=status), Reply(status=status), "recovered")) as server:
        gateway = make_gateway(server)
        gateways.append(gateway)
        result = gateway.chat("judge", [user_message("x")])
        assert result.text == "recovered"
        assert result.attempts == 3
        assert server.request_count == 3
        assert gateway.stats.retries == 2 and gateway.stats.failures == 0


def test_backoff_grows_exponentially_and_is_capped(gateways):
    failing = [Reply(status=503)] * 4
    with ScriptedLLMServer(Script(*failing, "ok")) as server:
        endpoint = EndpointConfig("judge", server.base_url, "m")
        gateway = LLMGateway({"judge": endpoint}, backoff_base_s=0.1, backoff_max_s=10.0)
        gateways.append(gateway)
        assert gateway.chat("judge", [user_message("x")]).attempts == 5
        arrivals = server.arrival_times
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # Delay before retry n lies in [base * 2**(n-1) / 2, base * 2**(n-1)] ("equal jitter").
    for n, gap in enumerate(gaps, start=1):
        assert 0.1 * 2 ** (n - 1) / 2 <= gap < 0.1 * 2 ** (n - 1) + 0.1, gaps

    with ScriptedLLMServer(Script(*failing, "ok")) as server:
        endpoint = EndpointConfig("judge", server.base_url, "m")
        gateway = LLMGateway({"judge": endpoint}, backoff_base_s=0.1, backoff_max_s=0.1)
        gateways.append(gateway)
        gateway.chat("judge", [user_message("x")])
        arrivals = server.arrival_times
    assert max(b - a for a, b in zip(arrivals, arrivals[1:])) < 0.2  # capped at 0.1 s (+ slack)


def test_timeout_is_retried(gateways):
    with ScriptedLLMServer(Script(Reply("too late", delay_s=1.0), "in time")) as server:
        gateway = make_gateway(server, timeout_s=0.3)
        gateways.append(gateway)
        started = time.perf_counter()
        result = gateway.chat("judge", [user_message("x")])
        assert result.text == "in time" and result.attempts == 2
        assert time.perf_counter() - started < 1.0  # the slow attempt was abandoned at the deadline
        assert server.request_count == 2


def test_bad_request_is_not_retried(gateways):
    records: list[CallRecord] = []
    with ScriptedLLMServer(Script(Reply(status=400), "never reached")) as server:
        gateway = make_gateway(server, on_call=records.append)
        gateways.append(gateway)
        with pytest.raises(LLMError) as info:
            gateway.chat("judge", [user_message("x")])
        assert server.request_count == 1
    error = info.value
    assert error.reason == "bad_request" and error.status == 400 and not error.retryable
    assert error.role == "judge" and "not retried" in str(error)
    assert not records[0].ok and records[0].attempts == 1 and "HTTP 400" in records[0].error


def test_gives_up_after_max_retries_with_an_actionable_error(gateways):
    records: list[CallRecord] = []
    with ScriptedLLMServer(failure_rate=1.0, failure_status=500) as server:
        gateway = make_gateway(server, role="scorer", on_call=records.append, max_retries=2)
        gateways.append(gateway)
        with pytest.raises(LLMError) as info:
            gateway.chat("scorer", [user_message("x")])
        assert server.request_count == 3
    error = info.value
    assert error.role == "scorer" and error.reason == "http_500" and error.retryable and error.attempts == 3
    message = str(error)
    assert "'scorer'" in message and server.base_url in message and "after 3 attempts" in message
    assert "What to do" in message and "max_retries" in message
    assert gateway.stats.failures == 1 and gateway.stats.retries == 2
    assert records[-1].ok is False and records[-1].attempts == 3


def test_timeouts_exhausted_say_to_raise_timeout(gateways):
    with ScriptedLLMServer(Script(Reply("slow", delay_s=0.5))) as server:
        gateway = make_gateway(server, timeout_s=0.1, max_retries=1)
        gateways.append(gateway)
        with pytest.raises(LLMError) as info:
            gateway.chat("judge", [user_message("x")])
    assert info.value.reason == "timeout" and "timeout_s" in str(info.value)


def test_empty_reply_is_an_error_and_not_cached(gateways):
    cache = MemoryCache()
    with ScriptedLLMServer(Script("", "now with text")) as server:
        gateway = make_gateway(server, cache=cache)
        gateways.append(gateway)
        with pytest.raises(LLMError) as info:
            gateway.chat("judge", [user_message("x")])
        assert info.value.reason == "empty_reply" and server.request_count == 1
        assert len(cache) == 0
        assert gateway.chat("judge", [user_message("x")]).text == "now with text"


def test_unknown_role_is_a_clear_error(server, gateways):
    gateway = make_gateway(server, role="judge")
    gateways.append(gateway)
    with pytest.raises(LLMError, match="No LLM endpoint is configured for role 'drafter'") as info:
        gateway.chat("drafter", [user_message("x")])
    assert info.value.reason == "unknown_role" and "judge" in str(info.value)
    assert server.request_count == 0


# --------------------------------------------------------------------------- limits


def test_concurrency_limit_is_honoured_server_side(gateways):
    with ScriptedLLMServer(latency_s=0.05) as server:
        gateway = make_gateway(server, max_concurrency=3)
        gateways.append(gateway)

        async def burst():
            return await asyncio.gather(*(gateway.achat("judge", [user_message(f"q{i}")]) for i in range(24)))

        results = asyncio.run(burst())
        assert [r.text for r in results] == [f"q{i}" for i in range(24)]
        assert server.max_in_flight == 3  # reached, never exceeded


def test_concurrency_limit_holds_across_threads_and_loops(gateways):
    with ScriptedLLMServer(latency_s=0.03) as server:
        gateway = make_gateway(server, max_concurrency=2)
        gateways.append(gateway)

        async def from_a_loop():
            await asyncio.gather(*(gateway.achat("judge", [user_message(f"loop{i}")]) for i in range(6)))

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(gateway.chat, "judge", [user_message(f"thread{i}")]) for i in range(6)]
            futures.append(pool.submit(asyncio.run, from_a_loop()))
            for future in futures:
                future.result()
        assert server.request_count == 12
        assert server.max_in_flight == 2


def test_requests_per_minute_spaces_requests(gateways):
    with ScriptedLLMServer() as server:
        gateway = make_gateway(server, requests_per_minute=600, max_concurrency=8)  # one every 0.1 s
        gateways.append(gateway)

        async def burst():
            await asyncio.gather(*(gateway.achat("judge", [user_message(f"r{i}")]) for i in range(5)))

        asyncio.run(burst())
        arrivals = server.arrival_times
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(arrivals) == 5
    # Starts are spaced 0.1 s apart on the client; arrivals carry a little network jitter, and the first
    # request also opens the connection, so it arrives late (anywhere up to the second's time): span and gaps are
    # measured from the second. Unlimited, all five arrive within a few ms.
    assert arrivals[-1] - arrivals[1] >= 0.25, gaps  # 0.3 nominal; unlimited, a few ms
    assert min(gaps[1:]) >= 0.05, gaps


# --------------------------------------------------------------------------- cache


def test_cache_hit_makes_no_http_call_and_salt_separates_entries(server, gateways):
    records: list[CallRecord] = []
    gateway = make_gateway(server, cache=MemoryCache(), on_call=records.append)
    gateways.append(gateway)
    messages = [user_message("is this melanoma?")]

    first = gateway.chat("judge", messages)
    second = gateway.chat("judge", messages)
    assert server.request_count == 1
    assert second.cached and second.attempts == 0 and second.text == first.text
    assert second.cache_key == first.cache_key
    assert records[1].cached and records[1].ok

    repeat = gateway.chat("judge", messages, cache_salt="repeat=2")
    assert not repeat.cached and repeat.cache_key != first.cache_key
    assert server.request_count == 2
    assert gateway.chat("judge", messages, cache_salt="repeat=2").cached
    assert server.request_count == 2

    gateway.chat("judge", messages, use_cache=False)
    assert server.request_count == 3
    assert gateway.stats.cache_hits == 2


def test_identical_concurrent_calls_pay_once(server, gateways):
    server.latency_s = 0.1
    gateway = make_gateway(server, cache=MemoryCache())
    gateways.append(gateway)

    async def twins():
        return await asyncio.gather(*(gateway.achat("judge", [user_message("same")]) for _ in range(4)))

    results = asyncio.run(twins())
    assert server.request_count == 1
    assert sum(not r.cached for r in results) == 1 and {r.text for r in results} == {"same"}


def test_sqlite_cache_is_shared_by_two_gateways(server, gateways, tmp_path):
    path = tmp_path / "cache" / "llm.sqlite3"
    first = make_gateway(server, cache=SQLiteCache(path))
    second = make_gateway(server, cache=SQLiteCache(path))
    gateways.extend([first, second])
    messages = [user_message("describe the lesion")]

    paid = first.chat("judge", messages)
    reused = second.chat("judge", messages)
    assert server.request_count == 1
    assert reused.cached and reused.text == paid.text
    assert (reused.prompt_tokens, reused.completion_tokens) == (paid.prompt_tokens, paid.completion_tokens)


def test_sqlite_cache_works_from_many_threads(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite3")

    def write_and_read(i: int) -> dict | None:
        cache.set(f"k{i}", {"text": f"v{i}"})
        return cache.get(f"k{i}")

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(write_and_read, range(40)))
    assert values == [{"text": f"v{i}"} for i in range(40)]
    assert SQLiteCache(tmp_path / "c.sqlite3").get("k7") == {"text": "v7"}
    assert cache.get("missing") is None


# --------------------------------------------------------------------------- JSON calls


def test_chat_json_parses_and_validates(gateways):
    replies = RuleResponder([("caption", '```json\n{"lesion_type": "plaque"}\n```')], default="no idea")
    with ScriptedLLMServer(replies) as server:
        gateway = make_gateway(server, cache=MemoryCache())
        gateways.append(gateway)

        value, result = gateway.chat_json("judge", [user_message("caption please")])
        assert value == {"lesion_type": "plaque"} and not result.cached

        def needs_color(obj):
            if "color" not in obj:
                raise ValueError("missing 'color'")
            return obj

        with pytest.raises(JSONExtractionError, match="missing 'color'") as info:
            gateway.chat_json("judge", [user_message("caption please")], validate=needs_color)
        assert info.value.result.cached and "plaque" in info.value.text

        with pytest.raises(JSONExtractionError, match="role 'judge'.*no JSON") as info:
            gateway.chat_json("judge", [user_message("something else")])
        assert info.value.result.text == "no idea"


def test_achat_json_from_a_running_loop(server, gateways):
    server.responder = lambda request: '<answer>{"n": 3}</answer>'
    gateway = make_gateway(server)
    gateways.append(gateway)
    value, result = asyncio.run(gateway.achat_json("judge", [user_message("x")], validate=lambda v: v["n"] * 2))
    assert value == 6 and result.text == '<answer>{"n": 3}</answer>'


# --------------------------------------------------------------------------- API key, images


def test_api_key_is_read_from_the_named_environment_variable(server, gateways, monkeypatch):
    monkeypatch.setenv("SKINFLOW_TEST_JUDGE_API_KEY", "sk-test-123")
    gateway = make_gateway(server, api_key_env="SKINFLOW_TEST_JUDGE_API_KEY")
    gateways.append(gateway)
    gateway.chat("judge", [user_message("x")])
    assert server.headers[0]["authorization"] == "Bearer sk-test-123"


def test_missing_api_key_variable_is_a_clear_error(server, gateways, monkeypatch):
    monkeypatch.delenv("SKINFLOW_TEST_MISSING_API_KEY", raising=False)
    gateway = make_gateway(server, api_key_env="SKINFLOW_TEST_MISSING_API_KEY")
    gateways.append(gateway)
    with pytest.raises(LLMError, match="SKINFLOW_TEST_MISSING_API_KEY") as info:
        gateway.chat("judge", [user_message("x")])
    assert info.value.reason == "missing_api_key" and "judge" in str(info.value)
    assert server.request_count == 0


@pytest.mark.parametrize("name", ["DATABASE_URL", "DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"])
def test_a_variable_that_is_not_an_api_key_is_never_sent(server, gateways, monkeypatch, name):
    monkeypatch.setenv(name, "postgres://skinflow:hunter2@db/skinflow")
    gateway = make_gateway(server, api_key_env=name)
    gateways.append(gateway)
    with pytest.raises(LLMError, match="not an API-key variable") as info:
        gateway.chat("judge", [user_message("x")])
    assert info.value.reason == "key_env_not_allowed" and server.request_count == 0


def test_an_extra_key_variable_can_be_allowed_explicitly(server, gateways, monkeypatch):
    monkeypatch.setenv("VENDOR_SECRET", "sk-vendor")
    monkeypatch.setenv("SKINFLOW_ALLOWED_KEY_ENVS", "VENDOR_SECRET")
    gateway = make_gateway(server, api_key_env="VENDOR_SECRET")
    gateways.append(gateway)
    gateway.chat("judge", [user_message("x")])
    assert server.headers[0]["authorization"] == "Bearer sk-vendor"


def test_no_key_variable_sends_a_placeholder(server, gateways):
    gateway = make_gateway(server)
    gateways.append(gateway)
    gateway.chat("judge", [user_message("x")])
    assert server.headers[0]["authorization"].startswith("Bearer ")


def test_images_are_sent_as_data_urls(server, gateways, tmp_path):
    path = tmp_path / "lesion.png"
    path.write_bytes(PNG_BYTES)
    gateway = make_gateway(server, role="drafter")
    gateways.append(gateway)

    result = gateway.chat("drafter", [user_message("describe this lesion", images=[path, b"\xff\xd8\xff\xe0jpg"])])

    assert result.text == "describe this lesion"
    parts = server.requests[0]["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert urls[0].startswith("data:image/png;base64,") and urls[1].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(urls[0].split(",", 1)[1]) == PNG_BYTES
    assert parts[-1] == {"type": "text", "text": "describe this lesion"}


# --------------------------------------------------------------------------- threads and loops


def test_sync_chat_from_many_threads_at_once(gateways):
    with ScriptedLLMServer(latency_s=0.02) as server:
        gateway = make_gateway(server, max_concurrency=4)
        gateways.append(gateway)

        def worker(t: int) -> list[str]:
            return [gateway.chat("judge", [user_message(f"t{t}-{i}")]).text for i in range(5)]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(worker, range(8)))
        assert answers == [[f"t{t}-{i}" for i in range(5)] for t in range(8)]
        assert server.request_count == 40


def test_achat_works_from_successive_event_loops(server, gateways):
    gateway = make_gateway(server)
    gateways.append(gateway)
    # asyncio.run makes a new loop each time; loop-bound state must not leak between them.
    assert asyncio.run(gateway.achat("judge", [user_message("one")])).text == "one"
    assert asyncio.run(gateway.achat("judge", [user_message("two")])).text == "two"
    assert gateway.chat("judge", [user_message("three")]).text == "three"


def test_on_call_runs_outside_any_event_loop_and_its_errors_do_not_fail_the_call(server, gateways):
    seen_loops = []

    def on_call(record: CallRecord) -> None:
        try:
            asyncio.get_running_loop()
            seen_loops.append(True)
        except RuntimeError:
            seen_loops.append(False)
        raise RuntimeError("database down")

    gateway = make_gateway(server, on_call=on_call)
    gateways.append(gateway)
    assert gateway.chat("judge", [user_message("sync")]).text == "sync"
    assert asyncio.run(gateway.achat("judge", [user_message("async")])).text == "async"
    assert seen_loops == [False, False]  # so a Django on_call may use the ORM


def test_gateway_can_be_reused_after_close(server):
    gateway = make_gateway(server)
    assert gateway.chat("judge", [user_message("before")]).text == "before"
    gateway.close()
    assert gateway.chat("judge", [user_message("after")]).text == "after"
    gateway.close()


def test_endpoint_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="max_concurrency"):
        EndpointConfig("judge", "http://h/v1", "m", max_concurrency=0)
    with pytest.raises(ValueError, match="registered under role"):
        LLMGateway({"judge": EndpointConfig("scorer", "http://h/v1", "m")})


def test_close_cancels_calls_in_flight_instead_of_hanging(gateways):
    from concurrent.futures import CancelledError

    with ScriptedLLMServer(latency_s=2.0) as server:
        gateway = make_gateway(server)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(gateway.chat, "judge", [user_message("slow")])
            while server.request_count == 0:
                time.sleep(0.01)
            started = time.perf_counter()
            gateway.close()
            with pytest.raises(CancelledError):
                pending.result(timeout=5)
            assert time.perf_counter() - started < 1.5


def test_forked_child_gets_its_own_loop(server, gateways):
    import multiprocessing

    gateway = make_gateway(server)
    gateways.append(gateway)
    assert gateway.chat("judge", [user_message("parent")]).text == "parent"  # loop thread now running

    def child() -> None:
        ok = gateway.chat("judge", [user_message("child")]).text == "child"
        raise SystemExit(0 if ok else 1)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=20)
    assert process.exitcode == 0
    assert [last for last in (r["messages"][-1]["content"] for r in server.requests)] == ["parent", "child"]


def test_unclosed_gateway_does_not_leak_its_loop_thread(server):
    import gc

    def loop_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "llm-gateway-loop" and t.is_alive()}

    # Follow this gateway's own thread: an unclosed gateway of an earlier test may be collected meanwhile.
    before = loop_threads()
    gateway = make_gateway(server)
    gateway.chat("judge", [user_message("x")])
    (mine,) = loop_threads() - before
    del gateway
    gc.collect()
    deadline = time.monotonic() + 5
    while mine.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not mine.is_alive()
