from __future__ import annotations

from django import forms

from annotations.models import Dataset, Sample
from evaluation.models import CATEGORY_CHOICES, EvalRun
from webapp.models import key_destination_error, validate_base_url, validate_env_var_name

_TRISTATE = [("", "unknown"), ("yes", "yes"), ("no", "no")]


def _tristate(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class RunForm(forms.Form):
    name = forms.CharField(max_length=200)
    model_name = forms.CharField(max_length=200, help_text="Name in the leaderboard, e.g. Qwen2.5-VL-7B.")
    base_url = forms.CharField(max_length=300, validators=[validate_base_url],
                               help_text="OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    endpoint_model = forms.CharField(max_length=200, help_text="Model id at the endpoint.")
    api_key_env = forms.CharField(max_length=100, required=False, validators=[validate_env_var_name],
                                  help_text="Name of the variable holding the key.")
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    test_set = forms.CharField(max_length=200, required=False, help_text="Leaderboard column; the dataset name if empty.")
    split = forms.ChoiceField(choices=[("", "all (includes the training split)")] + list(Sample.Split.choices),
                              initial="test", required=False,
                              help_text="Evaluate on the test split: the train split is what Stage II trains on.")
    sample_size = forms.IntegerField(min_value=1, required=False, help_text="e.g. 1000; empty for the whole split.")
    seed = forms.IntegerField(initial=0)
    k = forms.IntegerField(min_value=1, max_value=20, initial=6, label="K")
    judge_repeats = forms.IntegerField(min_value=1, max_value=10, initial=3)
    max_concurrency = forms.IntegerField(min_value=1, max_value=256, initial=8)
    uses_dve = forms.ChoiceField(choices=_TRISTATE, required=False, label="Has DVE (ablation)")
    uses_stage1 = forms.ChoiceField(choices=_TRISTATE, required=False, label="Had Stage I (ablation)")
    price_prompt_per_mtok = forms.FloatField(min_value=0, initial=0, label="Price / 1M prompt tokens")
    price_completion_per_mtok = forms.FloatField(min_value=0, initial=0, label="Price / 1M completion tokens")
    fresh_answers = forms.BooleanField(
        required=False, label="Bypass the cache",
        help_text="Ask the model again for every sample instead of reusing cached answers of earlier runs.")
    confirm_overlap = forms.BooleanField(
        required=False, label="Evaluate training data anyway",
        help_text="Needed when the test set holds training images (the “all” or train split): the report then "
        "carries a warning with the count.")

    def clean(self) -> dict:
        data = super().clean()
        # base_url's validator checks the host (webapp/egress.py); where the key may be sent needs both fields.
        error = key_destination_error(data.get("base_url", ""), data.get("api_key_env", ""))
        if error:
            self.add_error("api_key_env", error)
        return data

    def run_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["kind"] = EvalRun.Kind.ENDPOINT
        data["uses_dve"] = _tristate(data.get("uses_dve") or "")
        data["uses_stage1"] = _tristate(data.get("uses_stage1") or "")
        return data


class OverruleForm(forms.Form):
    rank = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    # Not required: withdrawing a verdict needs no category (the service says when one is missing).
    category = forms.ChoiceField(choices=[("", "–")] + CATEGORY_CHOICES, required=False)
    note = forms.CharField(required=False, max_length=2000)


def _choice_error(what: str, choices: list[tuple[str, str]]) -> dict[str, str]:
    valid = ", ".join(value for value, _ in choices if value)
    return {"invalid_choice": f"“%(value)s” is not a valid {what}; use one of: {valid} (or leave it empty)."}


class _Flag(forms.Field):
    """A checkbox filter in a query string: empty/absent is off, 1/on/yes/true is on, anything else an error."""

    ON, OFF = {"1", "on", "yes", "true"}, {"", "0", "off", "no", "false"}

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        # A text widget: CheckboxInput would read any value as "on" before the check below sees it.
        super().__init__(required=False, widget=forms.TextInput, **kwargs)

    def to_python(self, value) -> bool:  # noqa: ANN001
        if value in (None, True, False):
            return bool(value)
        text = str(value).strip().lower()
        if text in self.ON:
            return True
        if text in self.OFF:
            return False
        raise forms.ValidationError(f"“{value}” is not a valid value for {self.label}; use 1 (on) or leave it empty.")


class SampleFilterForm(forms.Form):
    """The per-sample browser's filters, from the query string; a bad value is an error that names it
    and the valid ones (the page shows it), never silently ignored."""

    verdict = forms.ChoiceField(required=False, label="Top-1 verdict")
    safety = _Flag(label="safety-critical")
    overruled = _Flag(label="overruled")
    label = forms.ChoiceField(required=False, label="Reference")
    top1 = forms.CharField(required=False, max_length=255, label="Top-1 prediction")

    def __init__(self, data, *, verdicts: list[tuple[str, str]], labels: list[str]) -> None:  # noqa: ANN001
        super().__init__(data)
        self.fields["verdict"].choices = [("", "any")] + verdicts
        self.fields["verdict"].error_messages = _choice_error("verdict", verdicts)
        label_choices = [(name, name) for name in labels]
        self.fields["label"].choices = [("", "any")] + label_choices
        self.fields["label"].error_messages = {
            "invalid_choice": "“%(value)s” is not a reference label of this run; pick one from the list "
                              f"({len(labels)} label(s)) or leave it empty."}

    def filters(self) -> dict:
        """The valid filters (a field with an error is left out, and its error is shown)."""
        data = getattr(self, "cleaned_data", {})
        return {key: data.get(key) for key in ("verdict", "safety", "overruled", "label", "top1")
                if key in data and data.get(key) not in (None, "")}

    def problems(self) -> list[str]:
        return [message for errors in self.errors.values() for message in errors]


class AttentionForm(forms.Form):
    """Start an attention analysis (section 4.4) of a local checkpoint from the page."""

    name = forms.CharField(max_length=200, help_text="How the model is named beside the other one.")
    checkpoint = forms.CharField(max_length=500, help_text="Folder of a local checkpoint on the server "
                                 "(a training checkpoint's path is shown on its training run page).")
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    split = forms.ChoiceField(choices=[("", "all (includes the training split)")] + list(Sample.Split.choices),
                              initial="test", required=False)
    sample_size = forms.IntegerField(min_value=1, max_value=5000, initial=50, label="Images (N)")
    seed = forms.IntegerField(initial=0)
    layers = forms.CharField(required=False, max_length=200, help_text="Decoder layers to average, e.g. “-1 -2”; "
                             "empty for all.")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=512)

    def clean_checkpoint(self) -> str:
        from pathlib import Path

        value = self.cleaned_data["checkpoint"].strip()
        if not Path(value).is_dir():
            raise forms.ValidationError(f"“{value}” is not a folder on the server; give the folder that holds the "
                                        "checkpoint's config.json and weights.")
        return value

    def clean_layers(self) -> list[int]:
        text = self.cleaned_data.get("layers", "").replace(",", " ").split()
        try:
            return [int(part) for part in text]
        except ValueError:
            raise forms.ValidationError("Layers are whole numbers separated by spaces, e.g. “-1 -2”.") from None


class RewardValidationForm(forms.Form):
    """Start a reward validation (Table 1) from the page: the same JSON lines as the command."""

    file = forms.FileField(help_text="JSON lines, one generated caption each: model, id, label, caption, "
                           "reference_caption. With “summary lines”: model, caption_reward (0-10), "
                           "diagnostic_accuracy (0-1), n.")
    study = forms.CharField(max_length=200, initial="default")
    k = forms.IntegerField(min_value=1, max_value=20, initial=1, label="Top-k",
                           help_text="Accuracy counts a correct diagnosis within the first k (Top-1 by default).")
    summary = forms.BooleanField(required=False, label="Summary lines",
                                 help_text="The lines already hold per-model results: store them as they are.")

    MAX_BYTES = 50 * 1024 * 1024

    def clean(self) -> dict:
        import json

        data = super().clean()
        upload = data.get("file")
        if upload is None:
            return data
        if upload.size > self.MAX_BYTES:
            self.add_error("file", f"The file is {upload.size // (1024 * 1024)} MB; the page takes up to 50 MB "
                           "(use manage.py reward_validation for larger files).")
            return data
        lines, problems = [], []
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            self.add_error("file", "The file is not UTF-8 text; save it as UTF-8 JSON lines.")
            return data
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: not JSON ({exc.msg})")
                continue
            if not isinstance(value, dict):
                problems.append(f"line {number}: not a JSON object")
                continue
            lines.append(value)
        if not lines and not problems:
            problems.append("the file holds no lines")
        if not problems:
            problems = self._check(lines, data.get("summary", False))
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            self.add_error("file", f"Nothing was started: {shown}.")
        data["lines"] = lines
        return data

    @staticmethod
    def _check(lines: list[dict], summary: bool) -> list[str]:
        from evaluation import reward_validation as core

        if not summary:
            try:
                core.rows_from_dicts(lines)
            except ValueError as exc:
                return [str(exc)]
            return []
        problems = []
        for number, d in enumerate(lines, start=1):
            try:
                reward, accuracy = float(d["caption_reward"]), float(d["diagnostic_accuracy"])
                int(d.get("n", 0))
            except (KeyError, TypeError, ValueError):
                problems.append(f"line {number}: needs model, caption_reward and diagnostic_accuracy as numbers")
                continue
            if not d.get("model"):
                problems.append(f"line {number}: model is missing")
            if not 0 <= accuracy <= 1:
                problems.append(f"line {number}: diagnostic_accuracy must be a share in [0, 1]")
            if not 0 <= reward <= 10:
                problems.append(f"line {number}: caption_reward must be within 0-10")
        return problems
