from __future__ import annotations

from django import forms
from django.conf import settings


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
