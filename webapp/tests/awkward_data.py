"""A database full of the awkward data users really create, for tests that visit every page.

Names carry ``$`` (matplotlib reads it as mathtext), single and double quotes (JavaScript and HTML
attributes), and ``<b>x</b>`` (escaping). Samples exist in every state, with and without an image and a
caption; one Fitzpatrick group is empty; a drafting run has failed throughout; an evaluation run's model
name is as awkward as the dataset's; a training run has metrics and a checkpoint.

``seed_awkward_data()`` is meant to grow: when a bug is found with data a user can create, add that data
here and every page and API route gets visited with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotations.models import (CaptionDraft, CaptionRevision, Dataset, DraftingRun, DraftJob,
                                FieldFrequencyAnalysis, Sample, SampleEvent)
from annotations.schema import FIELDS
from annotations.tests.images import jpeg_bytes, write

AWKWARD = "$5 & 10$ \"double\" 'single' <b>x</b>"
DATASET_NAME = f"Clinic {AWKWARD}"
MODEL_NAME = f"Model {AWKWARD} $\\oops{{1e-6}}$"
# Fitzpatrick types given to samples, in turn: type VI never occurs, and some are unknown (None).
SKIN_TYPES = (1, 2, 3, 4, 5, None)


@dataclass
class AwkwardData:
    dataset: Dataset
    samples: list[Sample] = field(default_factory=list)
    ids: dict[str, list[int]] = field(default_factory=dict)  # kind of object -> primary keys


def _caption(text: str) -> dict[str, str]:
    caption = {name: "" for name in FIELDS}
    filled = list(FIELDS)[:3]
    for i, name in enumerate(filled):
        caption[name] = f"{text} #{i}"
    return caption


def _split(state: Sample.State, with_image: bool) -> str:
    """Accepted samples with an image train (a snapshot needs them); the others make the test set."""
    if state in Sample.ACCEPTED_STATES:
        return Sample.Split.TRAIN if with_image else Sample.Split.VAL
    return Sample.Split.TEST


def seed_awkward_data(author=None) -> AwkwardData:
    """Create the awkward objects; ``author`` writes the human revisions (a user is made if None)."""
    if author is None:
        author = get_user_model().objects.create_user(username=f"author {AWKWARD}"[:150], password="x")
    dataset = Dataset.objects.create(name=DATASET_NAME, source=Dataset.Source.FOLDER,
                                     description=f"About {AWKWARD}", license=AWKWARD)
    data = AwkwardData(dataset=dataset)
    media = Path(settings.MEDIA_ROOT)
    n = 0
    for state in Sample.State:  # every state, so a state added later is covered without touching this file
        for with_image in (True, False):
            skin = SKIN_TYPES[n % len(SKIN_TYPES)]
            rel = ""
            if with_image:
                rel = f"awkward/{n}.jpg"
                write(media / rel, jpeg_bytes(color=(20 * (n % 12), 90, 140)))
            has_caption = state in Sample.ACCEPTED_STATES or (with_image and state == Sample.State.NEEDS_EXPERT)
            sample = Sample.objects.create(
                dataset=dataset, external_id=f"{state.value}/{'img' if with_image else 'none'} {AWKWARD}",
                label=f"lichen {AWKWARD}" if n % 2 else "psoriasis", image=rel, fitzpatrick=skin,
                split=_split(state, with_image),
                state=state, source=AWKWARD[:100], qc_flag=AWKWARD[:100],
                rejection_reason=Sample.RejectionReason.OTHER if state == Sample.State.REJECTED else "",
                caption=_caption(AWKWARD) if has_caption else None, caption_version=1 if has_caption else 0,
                last_error=AWKWARD if state == Sample.State.DRAFT_FAILED else "",
                metadata={"note": AWKWARD},
            )
            data.samples.append(sample)
            n += 1
    data.ids["sample"] = [s.pk for s in data.samples]

    _drafting(data, author)
    _evaluation(data)
    _training(data)
    _llm(data)
    return data


def _drafting(data: AwkwardData, author) -> None:
    """A drafting run whose every job failed, a machine attempt, a human revision and its history."""
    run = DraftingRun.objects.create(dataset=data.dataset, prompt_version=f"v1 {AWKWARD}"[:40],
                                     state=DraftingRun.State.FAILED, finished_at=timezone.now())
    for sample in data.samples[:4]:
        DraftJob.objects.create(run=run, sample=sample, state=DraftJob.State.FAILED, attempts=5, error=AWKWARD)
    captioned = next(s for s in data.samples if s.image and s.state == Sample.State.NEEDS_EXPERT)
    job = DraftJob.objects.create(run=DraftingRun.objects.create(dataset=data.dataset, prompt_version="v1",
                                                                 state=DraftingRun.State.SUCCEEDED),
                                  sample=captioned, state=DraftJob.State.NEEDS_EXPERT, attempts=1)
    CaptionDraft.objects.create(sample=captioned, job=job, attempt=1, prompt_version="v1", drafter_model=AWKWARD,
                                description=AWKWARD, caption=_caption(AWKWARD), diagnoses=[AWKWARD, "psoriasis"],
                                judge_category="unrelated", judge_rationale=AWKWARD)
    CaptionRevision.objects.create(sample=captioned, version=1, author=author, caption=_caption(AWKWARD),
                                   check_state=CaptionRevision.Check.INCONSISTENT, diagnoses=[AWKWARD],
                                   judge_rationale=AWKWARD)
    SampleEvent.objects.create(sample=captioned, kind=SampleEvent.Kind.REVISION_SAVED, actor=author,
                               detail={"note": AWKWARD})
    analysis = FieldFrequencyAnalysis.objects.create(
        dataset=data.dataset, captions=1, answers=1, filled={name: 1 for name in FIELDS},
        cited={name: 0 for name in FIELDS}, weights={name: 1 / len(FIELDS) for name in FIELDS})
    data.ids.update(drafting_run=[run.pk, job.run_id], revision=[CaptionRevision.objects.get(sample=captioned).pk],
                    field_frequency=[analysis.pk])


def _evaluation(data: AwkwardData) -> None:
    """An imported evaluation run, judged offline, on the test split (no skin type VI in it)."""
    from evaluation import services
    from evaluation.judge import ClinicalJudge

    rows = [{"id": s.external_id, "reference": s.label, "predictions": [s.label, AWKWARD, "acne"],
             "skin_type": s.fitzpatrick} for s in data.samples if s.split == Sample.Split.TEST]
    run = services.import_predictions(rows, name=f"run {AWKWARD}", model_name=MODEL_NAME, test_set=f"set {AWKWARD}",
                                      k=3, judge_repeats=1, dataset=data.dataset, uses_dve=True, uses_stage1=False)
    services.store_offline_judgements(run, ClinicalJudge())
    data.ids["eval_run"] = [run.pk]
    data.ids["eval_item"] = list(run.items.values_list("pk", flat=True))


def _training(data: AwkwardData) -> None:
    from training import services
    from training.models import Checkpoint, MetricPoint, TrainingRun

    snapshot = services.create_snapshot(data.dataset, "train", "I")
    run = TrainingRun.objects.create(name=f"train {AWKWARD}", lineage=AWKWARD[:100], stage="I", snapshot=snapshot,
                                     state="failed", error=AWKWARD, hyperparameters={"note": AWKWARD},
                                     finished_at=timezone.now())
    for step in (1, 2):
        MetricPoint.objects.create(run=run, step=step, values={"reward_mean": 0.1 * step, f"{AWKWARD}": 1.0})
    checkpoint = Checkpoint.objects.create(run=run, step=2, path=str(Path(settings.MEDIA_ROOT) / "ckpt"), is_final=True)
    data.ids.update(snapshot=[snapshot.pk], training_run=[run.pk], checkpoint=[checkpoint.pk])


def _llm(data: AwkwardData) -> None:
    from webapp.models import LLMCall, LLMEndpoint

    endpoint = LLMEndpoint.objects.create(role="judge", base_url="http://127.0.0.1:9/v1", model=AWKWARD[:200])
    call = LLMCall.objects.create(role="judge", model=AWKWARD, purpose=AWKWARD[:100], cache_key="0" * 64, ok=False,
                                  error=AWKWARD)
    data.ids.update(llm_endpoint=[endpoint.pk], llm_call=[call.pk])
