"""Sample filters shared by the samples page and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from annotations.models import Sample

_ANY_YES_NO = forms.Select(choices=[("", "any"), ("true", "yes"), ("false", "no")])
SKIN_TYPE_CHOICES = [(str(i), f"Type {i}") for i in range(1, 7)] + [("unknown", "unknown")]


class SampleFilter(django_filters.FilterSet):
    label = django_filters.CharFilter(field_name="label", lookup_expr="iexact")
    label_contains = django_filters.CharFilter(field_name="label", lookup_expr="icontains", label="Label contains")
    split = django_filters.ChoiceFilter(choices=Sample.Split.choices)
    state = django_filters.ChoiceFilter(choices=Sample.State.choices)
    skin_type = django_filters.ChoiceFilter(choices=SKIN_TYPE_CHOICES, method="filter_skin_type", label="Skin type")
    has_image = django_filters.BooleanFilter(method="filter_has_image", label="Has image", widget=_ANY_YES_NO)
    exclude_from_eval = django_filters.BooleanFilter(label="Excluded from evaluation", widget=_ANY_YES_NO)

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
