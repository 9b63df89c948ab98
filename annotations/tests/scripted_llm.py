"""A rule-driven stand-in for the drafter, structurer and diagnoser, for pipeline tests and benchmarks.

Each sample's image is recognised by the md5 of its bytes; its script says at which attempt the caption
becomes consistent (or never), and which step misbehaves at which attempt. The drafter writes a token
``[[key#attempt]]`` into its description; the structurer copies it into the caption's ``other`` field;
the diagnoser reads it back to know whose caption it diagnoses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from webapp.llm_testserver import Reply, last_user_text

WRONG_DIAGNOSIS = {"melanoma": "seborrheic keratosis", "tinea corporis": "psoriasis", "psoriasis": "tinea corporis",
                   "acne vulgaris": "rosacea", "scabies": "atopic dermatitis"}
TOKEN = re.compile(r"\[\[([^#\]]+)#(\d+)\]\]")


@dataclass
class Script:
    label: str
    passes_at: int | None                      # attempt whose caption is consistent; None: never
    faults: dict[int, str] = field(default_factory=dict)  # attempt -> "bad_json" | "unknown_keys" | "empty" | "timeout"


def caption_json(token: str, **extra: str) -> str:
    caption = {"color": "erythematous", "location": "trunk", "shape": "round", "lesion_type": "plaque, scale",
               "number": "multiple", "size": "1-3 cm", "texture": "", "border_characteristics": "well-defined",
               "surface_characteristics": "silvery scale", "distribution_characteristics": "scattered",
               "surrounding_characteristics": "", "other": token}
    caption.update(extra)
    return json.dumps(caption)


def diagnosis_answer(*names: str) -> str:
    items = [{"disease": n, "probability": round(0.8 / (i + 1), 2), "key_matching_fields": ["color", "lesion_type"],
              "brief_reason": "matches"} for i, n in enumerate(names)]
    return f"<think>reasoning</think><answer>{json.dumps({'top3_diseases': items})}</answer>"


class PipelineResponder:
    """Callable for ScriptedLLMServer. ``scripts`` maps an image's md5 to (key, Script)."""

    def __init__(self, scripts: dict[str, tuple[str, Script]], *, revisions: dict[str, bool] | None = None) -> None:
        self.scripts = scripts
        self.by_key = {key: script for key, script in scripts.values()}
        self.revisions = revisions or {}   # revision token -> consistent?
        self.labels = {}                   # revision token -> label
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> str | Reply:
        messages = request["messages"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        text = last_user_text(request)
        if "teaching atlas" in system:
            return self._drafter(messages)
        if text.startswith("Turn this description") or "not a valid caption" in text:
            return self._structurer(messages, text)
        if "[Description]" in text:
            return self._diagnoser(text)
        return Reply(status=400, text="unexpected request")

    def _image_key(self, messages: list[dict]) -> str:
        for part in messages[-1]["content"]:
            if part.get("type") == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                return self.scripts[hashlib.md5(data).hexdigest()][0]
        raise AssertionError("drafter request without image")

    def _drafter(self, messages: list[dict]) -> str | Reply:
        key = self._image_key(messages)
        with self._lock:
            attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        fault = self.by_key[key].faults.get(attempt)
        if fault == "empty":
            return ""
        if fault == "timeout":
            return Reply(text="late", delay_s=5.0)
        return f"Several erythematous scaly plaques on the trunk. [[{key}#{attempt}]]"

    def _structurer(self, messages: list[dict], text: str) -> str:
        match = TOKEN.search(json.dumps(messages))
        key, attempt = match.group(1), int(match.group(2))
        fault = self.by_key[key].faults.get(attempt)
        repair = "not a valid caption" in text
        if fault == "bad_json":
            return "```json\n{\"color\": \"red\", \"location\": \n```"  # broken, and broken again on repair
        if fault == "unknown_keys" and not repair:
            return json.dumps({**json.loads(caption_json(match.group(0))), "diagnosis": "psoriasis"})
        return caption_json(match.group(0))

    def _diagnoser(self, text: str) -> str:
        match = TOKEN.search(text)
        key, attempt = match.group(1), int(match.group(2))
        if key in self.revisions:
            label = self.labels[key]
            return diagnosis_answer(label if self.revisions[key] else WRONG_DIAGNOSIS[label], "eczema")
        script = self.by_key[key]
        ok = script.passes_at is not None and attempt >= script.passes_at
        return diagnosis_answer(script.label if ok else WRONG_DIAGNOSIS[script.label], "eczema")

    def drafter_attempts(self, key: str) -> int:
        return self._attempts.get(key, 0)
