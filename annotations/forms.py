from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from annotations.filters import invalid_choice
from annotations.models import DraftJob


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleImageField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)] if data else []


class UploadForm(forms.Form):
    dataset = forms.CharField(max_length=200, help_text="A new or existing dataset name.")
    archive = forms.FileField(required=False, help_text="A ZIP of <label>/<image> folders, or with a labels.csv (path,label).")
    images = MultipleImageField(required=False, help_text="Or loose images that share one label.")
    label = forms.CharField(max_length=255, required=False, help_text="The diagnosis of the loose images.")
    skip_bad_rows = forms.BooleanField(required=False, help_text="Import the good files even if some are bad.")

    def clean(self):
        data = super().clean()
        archive, images = data.get("archive"), data.get("images") or []
        if not archive and not images:
            raise forms.ValidationError("Choose a ZIP archive or at least one image file.")
        if archive and images:
            raise forms.ValidationError("Upload either a ZIP archive or loose images, not both at once.")
        if images and not (data.get("label") or "").strip():
            self.add_error("label", "Loose images need a label: type the diagnosis they all share.")
        limit = settings.SKINFLOW_MAX_UPLOAD_BYTES
        for f in ([archive] if archive else []) + list(images):
            if f.size > limit:
                self.add_error(None, f"{f.name} is {f.size:,} bytes, over the upload limit of {limit:,}.")
        return data


# ---- query strings of list pages: a bad value is named, with what would be accepted ----------------------------

class PageField(forms.IntegerField):
    """``?page=``: a whole number from 1 (how far it may go is known only after counting: :func:`pick_page`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("error_messages", {
            "invalid": "“%(value)s” is not a page number: use a whole number from 1.",
            "min_value": "there is no page before 1: use a whole number from 1.",
        })
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            # Django's own "invalid" message has no %(value)s; the text typed is what the reader needs to see.
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) \
                from exc


class RunJobsQuery(forms.Form):
    """The drafting run page's table: which job state, which page."""

    state = forms.ChoiceField(required=False, choices=[("", "all")] + list(DraftJob.State.choices),
                              error_messages=invalid_choice("a job state", DraftJob.State.choices))
    page = PageField()


class PageQuery(forms.Form):
    """A list page's ``?page=`` alone (its filters have a form of their own)."""

    page = PageField()
