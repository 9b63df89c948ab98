"""verl 0.9 loads our reward with its own config composition and loader, and its naive reward
manager calls it on a decoded response, with the judge LLM configured from the environment only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

verl = pytest.importorskip("verl")

from hydra import compose, initialize_config_dir  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.reward import get_custom_reward_fn, load_reward_manager  # noqa: E402

from annotations.schema import FIELDS  # noqa: E402
from webapp.llm_testserver import ScriptedLLMServer, last_user_text  # noqa: E402

REWARDS_FILE = str(Path(__file__).resolve().parents[1] / "rewards.py")


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer built locally (no model hub): one token per byte, exact round trip."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="!")


def verl_config(path: str, name: str):
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            f"reward.custom_reward_function.path={path}",
            f"reward.custom_reward_function.name={name}",
        ])


def one_sample(tokenizer, response: str, data_source: str, ground_truth, extra_info=None) -> DataProto:
    prompt_ids = tokenizer("Diagnose the image.", return_tensors="pt")["input_ids"]
    response_ids = tokenizer(response, return_tensors="pt")["input_ids"]
    pad = torch.full((1, 8), tokenizer.pad_token_id)  # right padding after the response, masked out
    responses = torch.cat([response_ids, pad], dim=1)
    attention = torch.cat([torch.ones_like(prompt_ids), torch.ones_like(response_ids), torch.zeros_like(pad)], dim=1)
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": responses, "attention_mask": attention},
        non_tensors={
            "data_source": np.array([data_source], dtype=object),
            "reward_model": np.array([{"ground_truth": ground_truth}], dtype=object),
            "extra_info": np.array([dict(extra_info or {})], dtype=object),
        },
    )


@pytest.fixture
def judge_env(monkeypatch):
    """The worker-process configuration: environment variables only, no Django settings involved."""
    def respond(request):
        text = last_user_text(request)
        if "Grade these fields" in text:
            asked = json.loads(text.rsplit("\n", 1)[-1])
            return json.dumps({"scores": {f: 7 for f in asked}})
        names = json.loads(text.rsplit("\n", 1)[-1])
        return json.dumps({"verdicts": [{"name": n, "category": "exact", "rationale": "same"} for n in names]})

    with ScriptedLLMServer(respond) as server:
        for var in list(os.environ):
            if var.startswith("SKINFLOW_"):
                monkeypatch.delenv(var)
        monkeypatch.setenv("SKINFLOW_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("SKINFLOW_LLM_MODEL", "verl-judge")
        yield server


def diagnosis_answer(*names: str) -> str:
    items = [{"disease": n, "probability": 0.5, "key_matching_fields": ["color"], "brief_reason": "r"} for n in names]
    return "<think>scaly plaques</think><answer>" + json.dumps({"top6_diseases": items}) + "</answer>"


@pytest.mark.parametrize("path", [REWARDS_FILE, "pkg://training.rewards"])
@pytest.mark.parametrize("name", ["compute_score", "acompute_score"])
def test_verl_reward_manager_loads_and_calls_our_function(judge_env, path, name):
    config = verl_config(path, name)
    tokenizer = byte_tokenizer()
    manager = load_reward_manager(config, tokenizer)
    assert manager.is_async_reward_score == (name == "acompute_score")

    # Position 1 is a sibling, position 2 a name only the LLM judge knows (graded exact by the server).
    data = one_sample(tokenizer, diagnosis_answer("lichen planus", "Zorblaxian psoriasiform dermatosis"),
                      "skinflow_diagnosis", "psoriasis")
    result = manager.loop.run_until_complete(manager.run_single(data))
    assert result["reward_score"] == pytest.approx(0.8)
    assert result["reward_extra_info"]["first_correct"] == 2
    assert result["reward_extra_info"]["format_ok"] == 1
    assert judge_env.request_count == 1
    assert judge_env.requests[0]["model"] == "verl-judge"

    malformed = one_sample(tokenizer, "I think it is psoriasis.", "skinflow_diagnosis", "psoriasis")
    result = manager.loop.run_until_complete(manager.run_single(malformed))
    assert result["reward_score"] == 0.0 and result["reward_extra_info"]["format_ok"] == 0


def test_verl_caption_sample_scores_on_the_0_1_scale(judge_env):
    config = verl_config("pkg://training.rewards", "compute_score")
    tokenizer = byte_tokenizer()
    manager = load_reward_manager(config, tokenizer)
    reference = {f: "" for f in FIELDS} | {"color": "salmon pink", "lesion_type": "plaque"}
    generated = dict(reference, color="pink-red")
    data = one_sample(tokenizer, json.dumps(generated), "skinflow_caption", json.dumps(reference))
    result = manager.loop.run_until_complete(manager.run_single(data))
    # 11 fields decided without the LLM (10 each), colour scored 7 by the server; uniform weights.
    assert result["reward_score"] == pytest.approx((11 * 10 + 7) / 12 / 10)
    assert result["reward_extra_info"]["caption_reward"] == pytest.approx((11 * 10 + 7) / 12)
    assert result["reward_extra_info"]["field_color"] == 7
    assert judge_env.request_count == 1


def test_legacy_top_level_key_is_not_where_verl_looks():
    # verl 0.9 reads reward.custom_reward_function; the old top-level key alone loads nothing.
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose(config_name="ppo_trainer",
                         overrides=[f"custom_reward_function.path={REWARDS_FILE}"])
    assert get_custom_reward_fn(config) is None
    assert get_custom_reward_fn(verl_config(REWARDS_FILE, "compute_score")) is not None
