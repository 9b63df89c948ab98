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
    split = forms.ChoiceField(choices=[("", "all")] + list(Sample.Split.choices), initial="test", required=False)
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
