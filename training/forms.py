"""The launch form: a run and the snapshot it trains on, in one page."""

from __future__ import annotations

import json

from django import forms

from annotations.models import Dataset, Sample
from training.engines import EngineError
from training.engines.spec import check_engine_path
from training.models import Checkpoint, Stage, TrainingRun
from training.selectors import finished_checkpoints


class JSONObjectField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4, "class": "mono"})

    def to_python(self, value: str) -> dict:
        value = (value or "").strip()
        if not value:
            return {}
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise forms.ValidationError("expected a JSON object")
        return data


class LaunchForm(forms.Form):
    name = forms.CharField(max_length=200)
    lineage = forms.CharField(max_length=100, initial="default",
                              help_text="Stage II starts from this lineage's finished Stage I unless you pick a checkpoint.")
    stage = forms.ChoiceField(choices=Stage.choices)
    engine = forms.ChoiceField(choices=TrainingRun.Engine.choices)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    split = forms.ChoiceField(choices=Sample.Split.choices, initial="train")
    k = forms.IntegerField(min_value=1, max_value=20, initial=6, label="K (Stage II top-K)")
    base_model = forms.ChoiceField(
        choices=[("path", "A Hugging Face folder on the server"),
                 ("tiny", "Tiny CPU model (smoke test)")],
        initial="path", required=False, widget=forms.RadioSelect, label="Base model",
        help_text=("The tiny model is a random 2-layer Qwen2.5-VL the worker builds once in the data folder and trains "
                   "on the CPU in about a minute a stage: 4 steps, 2 prompts x G=4, 96 tokens (hyperparameters "
                   "below still win). It shows the whole loop, not a useful model."))
    base_model_path = forms.CharField(required=False, max_length=500, label="Base model folder",
                                      help_text="e.g. /models/Qwen2.5-VL-7B-Instruct (with config.json).")
    init_checkpoint = forms.ModelChoiceField(queryset=Checkpoint.objects.none(), required=False,
                                             label="…or start from checkpoint")
    train_on_overrides = forms.BooleanField(
        required=False, initial=True, label="Train on expert overrides",
        help_text="Stage I: include captions a dermatologist accepted although the LLM re-check disagreed.")
    dve = forms.BooleanField(required=False, initial=True, label="Dynamic Vision Encoder (FDLinear)")
    dve_k = forms.IntegerField(required=False, min_value=1, label="DVE frequency groups (empty = d/2)")
    caption_scorer = forms.ChoiceField(
        choices=(), required=False, initial="llm", label="Stage I caption scorer",
        help_text=("llm: the scorer role's model grades each field of a caption (real data, free text). fields: a "
                   "field-by-field match with no LLM, for captions drawn from a closed vocabulary such as the "
                   "synthetic set's. Stage II ignores it."))
    hyperparameters = JSONObjectField(required=False, help_text="Overrides of the stage defaults shown below.")
    reward_settings = JSONObjectField(required=False, help_text='e.g. {"position_weights": [1, 0.8, 0.6, 0.4, 0.2, 0.1]}')
    verl_options = JSONObjectField(required=False, label="verl options", help_text=(
        'verl runs only, e.g. {"ray_address": "http://head:8265", "n_gpus_per_node": 8, "nnodes": 1, '
        '"rollout": "vllm", "micro_batch_size_per_gpu": 1}; n_gpus_per_node defaults to the GPUs the worker sees.'))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["init_checkpoint"].queryset = finished_checkpoints()
        from training.rewards import CAPTION_SCORERS  # the one list of scorers (loaded with the page, not the URLs)

        self.fields["caption_scorer"].choices = list(CAPTION_SCORERS.items())

    def clean(self) -> dict:
        data = super().clean()
        rewards = dict(data.get("reward_settings") or {})
        if data.get("stage") == Stage.CAPTION and "caption_scorer" not in rewards:
            # The reward settings' JSON wins where it names a scorer; otherwise the choice above is the run's.
            rewards["caption_scorer"] = data.get("caption_scorer") or "llm"
            data["reward_settings"] = rewards
        if data.get("base_model") == "tiny" and (data.get("base_model_path") or "").strip():
            self.add_error("base_model_path", "Leave the folder empty when training the tiny CPU model, or choose "
                                              "\"A Hugging Face folder on the server\".")
        return data

    @property
    def tiny_model(self) -> bool:
        return self.cleaned_data.get("base_model") == "tiny"

    def clean_base_model_path(self) -> str:
        # The launch service refuses it too; here the error sits next to the field.
        try:
            return check_engine_path(self.cleaned_data.get("base_model_path") or "", "base model path")
        except EngineError as exc:
            raise forms.ValidationError(str(exc)) from None


class EvaluateCheckpointForm(forms.Form):
    """"Evaluate this checkpoint": a local-checkpoint evaluation run; defaults from the checkpoint's run."""

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    split = forms.ChoiceField(choices=Sample.Split.choices, initial="test",
                              help_text="test unless you know why: the train split is what the model trained on.")
    sample_size = forms.IntegerField(min_value=1, required=False, help_text="Empty for the whole split.")
    k = forms.IntegerField(min_value=1, max_value=20, label="K (top-K)")
    judge_repeats = forms.IntegerField(min_value=1, max_value=10, initial=3)
    confirm_overlap = forms.BooleanField(
        required=False, label="Evaluate training data anyway",
        help_text="Only when the test set holds samples that trained this checkpoint; the report carries a warning.")

    def __init__(self, checkpoint: Checkpoint, *args, **kwargs) -> None:
        run = checkpoint.run
        initial = {"dataset": run.snapshot.dataset_id, "split": "test",
                   "k": run.k if run.stage == Stage.DIAGNOSIS else 6, "judge_repeats": 3}
        super().__init__(*args, initial=initial, **kwargs)
