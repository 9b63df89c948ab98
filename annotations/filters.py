"""Sample filters shared by the samples page and the API.

A value a filter does not know is an error that names it and the values it takes (the page shows it above
the grid, the API answers 400 with it), never a filter silently left out: a user who typed ``split=tst``
must not take the whole dataset for the test split.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from annotations.models import Dataset, Sample

SKIN_TYPE_CHOICES = [(str(i), f"Type {i}") for i in range(1, 7)] + [("unknown", "unknown")]
_YES_NO = [("", "any"), ("true", "yes"), ("false", "no")]


def invalid_choice(what: str, allowed: list[tuple[str, str]] | list[str]) -> dict[str, str]:
    """The ``error_messages`` of a choice field: the bad value, then every value it takes."""
    values = [c[0] if isinstance(c, tuple) else c for c in allowed]
    listed = ", ".join(v for v in values if v)
    # "%(value)s" is filled in by Django's ChoiceField; a literal % in the list must not be read as a format.
    return {"invalid_choice": f"“%(value)s” is not {what}: use one of {listed.replace('%', '%%')}."}


class YesNoSelect(forms.Select):
    """any / yes / no. Hands the raw text to the field (Django's NullBooleanSelect turns an unknown value into
    "any" before the field could refuse it) and shows a cleaned True/False as the option it came from."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs, choices=_YES_NO)

    def format_value(self, value: Any) -> list[str]:
        return super().format_value({True: "true", False: "false"}.get(value, value) if isinstance(value, bool)
                                    else value)


class StrictNullBooleanField(forms.NullBooleanField):
    """Yes, no or any: Django's NullBooleanField reads any other text ("banana", "yes please") as "any",
    which would leave the filter out without a word."""

    widget = YesNoSelect
    _VALUES = {"": None, "true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (True, False, None):
            return value
        text = str(value).strip().lower()
        if text not in self._VALUES:
            raise forms.ValidationError(f"“{value}” is not yes or no: use true or false, or leave it empty for any.",
                                        code="invalid")
        return self._VALUES[text]


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictNullBooleanField


class SampleFilter(django_filters.FilterSet):
    dataset = django_filters.ModelChoiceFilter(
        queryset=Dataset.objects.all(),
        error_messages={"invalid_choice": "“%(value)s” is not a dataset id: GET /api/datasets/ lists them."})
    label = django_filters.CharFilter(field_name="label", lookup_expr="iexact")
    label_contains = django_filters.CharFilter(field_name="label", lookup_expr="icontains", label="Label contains")
    split = django_filters.ChoiceFilter(choices=Sample.Split.choices,
                                        empty_label="any",
                                        error_messages=invalid_choice("a split", Sample.Split.choices))
    state = django_filters.ChoiceFilter(choices=Sample.State.choices,
                                        empty_label="any",
                                        error_messages=invalid_choice("a sample state", Sample.State.choices))
    skin_type = django_filters.ChoiceFilter(choices=SKIN_TYPE_CHOICES, method="filter_skin_type", label="Skin type",
                                            empty_label="any",
                                            error_messages=invalid_choice("a skin type", SKIN_TYPE_CHOICES))
    has_image = StrictBooleanFilter(method="filter_has_image", label="Has image")
    exclude_from_eval = StrictBooleanFilter(label="Excluded from evaluation")

    class Meta:
        model = Sample
        fields = ["dataset", "label", "split", "state"]

    def filter_skin_type(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if value == "unknown":
            return qs.filter(fitzpatrick__isnull=True)
        return qs.filter(fitzpatrick=int(value))

    def filter_has_image(self, qs: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return qs
        return qs.exclude(image="") if value else qs.filter(image="")


def filter_errors(form: forms.Form) -> list[str]:
    """Every error of a bound filter form as one sentence naming the filter, in the form's field order."""
    out = []
    for name, field in form.fields.items():
        for message in form.errors.get(name, []):
            out.append(f"{field.label or name.replace('_', ' ').capitalize()}: {message}")
    out.extend(form.non_field_errors())
    return out
