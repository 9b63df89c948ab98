"""Shared pieces of the evaluation tests: a small test set with images, and a scripted server that
plays both the model under test (answers chosen by image) and the judge (for names the ontology
cannot decide)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, write
from webapp.llm import image_data_url
from webapp.llm_testserver import last_user_text

MODEL_ID = "model-under-test"
JUDGE_ID = "judge-model"


def answer(*names: str, k: int = 3) -> str:
    items = [{"disease": n, "probability": 0.5, "key_matching_fields": ["color"], "brief_reason": "looks so"}
             for n in names]
    return f"<think>looking</think><answer>{json.dumps({f'top{k}_diseases': items})}</answer>"


# (external id, label, fitzpatrick, excluded, image colour, the model's scripted answer)
CASES = [
    ("s1", "psoriasis", 2, False, (200, 40, 40), answer("psoriasis", "lichen planus")),
    ("s2", "melanoma", 5, False, (40, 200, 40), answer("seborrheic keratosis", "Kraxl syndrome", "melanocytic nevus")),
    ("s3", "herpes zoster", None, False, (40, 40, 200), "I think it is shingles."),  # malformed: invalid
    ("s4", "acne vulgaris", 3, True, (120, 120, 120), answer("acne")),  # qc: wrongly labelled -> never sampled
    ("s5", "acne vulgaris", 3, False, (220, 220, 40), answer("rosacea", "Blorpa papulosis", "acne")),
]


def make_test_set(name: str = "Clinic test set") -> Dataset:
    dataset = Dataset.objects.create(name=name, source=Dataset.Source.FOLDER)
    media = Path(settings.MEDIA_ROOT)
    for ext_id, label, skin, excluded, colour, _ in CASES:
        rel = f"eval-test/{ext_id}.jpg"
        write(media / rel, jpeg_bytes(color=colour, size=(32 + len(ext_id), 32)))
        Sample.objects.create(dataset=dataset, external_id=ext_id, image=rel, label=label, fitzpatrick=skin,
                              split=Sample.Split.TEST, exclude_from_eval=excluded)
    return dataset


def request_image(request: dict) -> str | None:
    for message in request.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    return part["image_url"]["url"]
    return None


@dataclass
class Script:
    """Replies by role. The judge says 'Kraxl syndrome' is exact in the first call for it and a
    sibling in the second (so the two repeats differ), and 'Blorpa papulosis' is unrelated."""

    media: Path | None = None
    answers: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kraxl_calls: int = 0
    judge_names: Counter = field(default_factory=Counter)

    @classmethod
    def for_cases(cls, media: Path | None = None) -> "Script":
        return cls(media=Path(media or settings.MEDIA_ROOT))

    def answer_for(self, request: dict) -> str:
        with self.lock:  # the images exist only once the test set is made: map them on first use
            if not self.answers:
                self.answers = {image_data_url(self.media / f"eval-test/{c[0]}.jpg"): c[5] for c in CASES}
        return self.answers[request_image(request)]

    def __call__(self, request: dict) -> str:
        if request.get("model") == MODEL_ID:
            return self.answer_for(request)
        text = last_user_text(request)
        names = json.loads(text[text.index("Predictions (JSON array):") + len("Predictions (JSON array):"):])
        verdicts = []
        for name in names:
            with self.lock:
                self.judge_names[name] += 1
                if name == "Kraxl syndrome":
                    self.kraxl_calls += 1
                    category = "exact" if self.kraxl_calls == 1 else "sibling"
                else:
                    category = "unrelated"
            verdicts.append({"name": name, "category": category, "rationale": f"scripted {category}"})
        return json.dumps({"verdicts": verdicts})
