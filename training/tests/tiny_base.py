"""A warm-started tiny Qwen2.5-VL with DVE for the training tests (built once per test session)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from annotations.schema import FIELDS, serialize_caption
from evaluation.diagnosis import diagnosis_prompt
from training.export import caption_prompt

K = 3
REFERENCE_CAPTION = {f: "" for f in FIELDS} | {"color": "salmon pink", "lesion_type": "plaque", "location": "elbow"}
# What the tiny model learns to say: a colour the scorer LLM must grade (not decidable mechanically) ...
GENERATED_CAPTION = serialize_caption(dict(REFERENCE_CAPTION, color="pink"))
# ... and a name only the LLM judge can place, ahead of the reference label.
DIAGNOSIS_ANSWER = ("<think>x</think><answer>" + '{"top3_diseases": [{"disease": "Zorblaxian dermatosis"}, '
                    '{"disease": "psoriasis"}]}</answer>')

_BUILT: dict[str, Path] = {}


def tiny_base() -> Path:
    """The saved base model folder (DVE on, K=4 frequency groups)."""
    if "base" not in _BUILT:
        from training.tiny_vlm import save_tiny_base

        image = Image.new("RGB", (16, 16), (200, 120, 110))
        examples = [(caption_prompt(), image, [GENERATED_CAPTION]), (diagnosis_prompt(K), image, [DIAGNOSIS_ANSWER])]
        folder = Path(tempfile.mkdtemp(prefix="tiny-vlm-")) / "base"
        save_tiny_base(folder, dve_k=4, examples=examples, warm_steps=150)
        _BUILT["base"] = folder
    return _BUILT["base"]


def scripted_llm(request: dict) -> str:
    """The local OpenAI-compatible server's answers: field scores for the scorer, verdicts for the judge."""
    from webapp.llm_testserver import last_user_text

    text = last_user_text(request)
    if "Grade these fields" in text:
        return json.dumps({"scores": {f: 7 for f in json.loads(text.rsplit("\n", 1)[-1])}})
    names = json.loads(text.rsplit("\n", 1)[-1])
    return json.dumps({"verdicts": [{"name": n, "category": "exact", "rationale": "scripted"} for n in names]})


def cleanup() -> None:
    for folder in _BUILT.values():
        shutil.rmtree(folder.parent, ignore_errors=True)
