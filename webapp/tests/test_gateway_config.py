"""The Django side of the gateway: endpoints from settings, env and admin-edited rows; calls recorded."""

from __future__ import annotations

import pytest

from webapp.gateway import CallRecorder, build_gateway, endpoint_configs
from webapp.llm_testserver import RuleResponder, ScriptedLLMServer
from webapp.models import LLMCall, LLMEndpoint


@pytest.mark.django_db
def test_rows_override_env_and_settings(settings, monkeypatch):
    settings.SKINFLOW_LLM_BASE_URL = "http://default.invalid/v1"
    monkeypatch.setenv("SKINFLOW_JUDGE_MODEL", "gemini-2.5-pro")
    LLMEndpoint.objects.create(role="drafter", base_url="http://vllm:8000/v1", model="Qwen2.5-VL-72B",
                               api_key_env="VLLM_API_KEY", max_concurrency=32)
    LLMEndpoint.objects.create(role="scorer", base_url="http://off/v1", model="x", enabled=False)
    configs = endpoint_configs()
    assert (configs["drafter"].base_url, configs["drafter"].max_concurrency) == ("http://vllm:8000/v1", 32)
    assert configs["judge"].model == "gemini-2.5-pro"
    assert configs["scorer"].base_url == "http://default.invalid/v1"  # disabled row ignored


@pytest.mark.django_db
def test_calls_are_recorded_with_tokens_and_latency(settings):
    with ScriptedLLMServer(RuleResponder([("diagnose", "psoriasis")], default="?"), latency_s=0.05) as server:
        settings.SKINFLOW_LLM_BASE_URL = server.base_url
        recorder = CallRecorder(purpose="test")
        gateway = build_gateway(recorder)
        try:
            messages = [{"role": "user", "content": "please diagnose this plaque"}]
            assert gateway.chat("diagnoser", messages).text == "psoriasis"
            assert gateway.chat("diagnoser", messages).cached
        finally:
            gateway.close()
    assert recorder.flush() == 2
    first, second = LLMCall.objects.order_by("id")
    assert first.purpose == "test" and first.role == "diagnoser" and not first.cached
    assert first.prompt_tokens > 0 and first.completion_tokens > 0 and first.latency_ms >= 50
    assert second.cached and second.cache_key == first.cache_key
