"""Local checkpoints: a tiny random Qwen2.5-VL saved to disk answers an evaluation run (its answers
are word salad, so every one is a malformed answer and the Top-k results are known: all zero),
and an attention analysis draws one map per image and a histogram."""

from __future__ import annotations

import pytest
from django.conf import settings
from PIL import Image

from evaluation import attention_services, local_inference, services
from evaluation.local_model import LocalVLM
from evaluation.models import AttentionAnalysis, EvalRun
from evaluation.tests.eval_fixtures import make_test_set
from evaluation.tests.tiny_vlm import save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-qwen"))


def test_local_model_answers_and_attends_to_its_image(checkpoint):
    vlm = LocalVLM.load(checkpoint)
    image = Image.new("RGB", (40, 32), (200, 90, 80))
    answer = vlm.generate("w5 w6 w7", image, max_new_tokens=5)
    assert 1 <= answer.completion_tokens <= 5 and answer.prompt_tokens > 20
    amap = vlm.attention("w5 w6 w7", image, answer.text)
    grid = vlm.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0].tolist()
    assert tuple(amap.grid.shape) == (grid[1] // 2, grid[2] // 2)
    assert amap.grid.sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.django_db
def test_local_run_stores_answers_and_finishes_with_known_results(checkpoint):
    dataset = make_test_set()
    run = services.create_run(name="tiny", model_name="tiny-qwen", dataset=dataset, kind=EvalRun.Kind.LOCAL,
                              checkpoint=str(checkpoint), k=3, judge_repeats=1, start=False)
    vlm = LocalVLM.load(checkpoint)
    assert local_inference.infer_pending_local(run.id, vlm=vlm, max_new_tokens=4) == 0
    assert run.items.filter(inferred=True).count() == 4
    assert all(not i.parse_ok and i.completion_tokens > 0 for i in run.items.all())
    # Nothing left to generate: a second pass asks the model nothing.
    calls = []
    vlm.generate = lambda *a, **k: calls.append(a)
    assert local_inference.infer_pending_local(run.id, vlm=vlm) == 0 and calls == []
    services.judge_pending(run.id)  # empty lists: no judge call is needed
    run.refresh_from_db()
    assert run.status == EvalRun.Status.DONE
    assert run.metrics["top_k"] == [0.0, 0.0, 0.0] and run.metrics["invalid_answers"] == 4


@pytest.mark.django_db
def test_attention_analysis_two_models_side_by_side(checkpoint, tmp_path, derm_client):
    dataset = make_test_set()
    other = save_tiny_checkpoint(tmp_path / "other", seed=5)
    analyses = []
    for name, ckpt in (("base", checkpoint), ("ours", other)):
        a = attention_services.create_analysis(name=name, checkpoint=str(ckpt), dataset=dataset, sample_size=3,
                                               max_new_tokens=3, start=False)
        analyses.append(attention_services.run_analysis(a.id))
    for a in analyses:
        assert a.status == AttentionAnalysis.Status.DONE and len(a.maps) == 3
        assert a.histogram["images"] == 3 and sum(a.histogram["shares"]) == pytest.approx(1.0)
        for entry in a.maps:
            assert (settings.MEDIA_ROOT / entry["file"]).read_bytes().startswith(b"\x89PNG")
    page = derm_client.get(f"/evaluation/attention/?a={analyses[0].id}&b={analyses[1].id}")
    assert page.status_code == 200
    body = page.content.decode()
    assert "base" in body and "ours" in body and "&gt;0.06" in body
    svg = derm_client.get(f"/evaluation/attention/plot.svg?a={analyses[0].id}&b={analyses[1].id}")
    assert svg.status_code == 200 and b"<svg" in svg.content
    heat = derm_client.get(f"/evaluation/attention/{analyses[0].id}/maps/{analyses[0].maps[0]['sample_id']}.png")
    assert heat.status_code == 200 and heat["Content-Type"] == "image/png"
