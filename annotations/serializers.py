from __future__ import annotations

from rest_framework import serializers

from annotations.models import Dataset, Sample


class DatasetSerializer(serializers.ModelSerializer):
    sample_count = serializers.IntegerField(read_only=True)
    image_count = serializers.IntegerField(read_only=True)
    excluded_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "source", "license", "created_at",
                  "sample_count", "image_count", "excluded_count"]
        read_only_fields = ["created_at"]


class SampleSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Sample
        fields = ["id", "dataset", "external_id", "label", "source", "fitzpatrick", "split", "state", "qc_flag",
                  "exclude_from_eval", "checksum", "width", "height", "metadata", "image_url", "thumbnail_url",
                  "created_at", "updated_at"]
        read_only_fields = fields

    def _url(self, obj: Sample, name: str) -> str | None:
        if not obj.image:
            return None
        request = self.context.get("request")
        path = f"/api/samples/{obj.pk}/{name}/"
        return request.build_absolute_uri(path) if request else path

    def get_image_url(self, obj: Sample) -> str | None:
        return self._url(obj, "image")

    def get_thumbnail_url(self, obj: Sample) -> str | None:
        return self._url(obj, "thumbnail")


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    committed = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    images_attached = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    warnings = ImportErrorSerializer(many=True)
    summary = serializers.CharField()


class UploadSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=200)
    archive = serializers.FileField(required=False)
    images = serializers.ListField(child=serializers.FileField(), required=False)
    label = serializers.CharField(required=False, allow_blank=True)
    skip_bad_rows = serializers.BooleanField(default=False)


# ---- the drafting run page's live progress (annotations/drafting_api.py) --------------------------------------

class RunJobRowSerializer(serializers.Serializer):
    """One row of the run page's table: a job and its sample."""

    id = serializers.IntegerField(help_text="The job's id.")
    token = serializers.CharField(help_text="id.state.attempts: send it back in ?have= and an unchanged row is "
                                            "not sent again.")
    sample_id = serializers.IntegerField()
    label = serializers.CharField()
    external_id = serializers.CharField()
    state = serializers.CharField(help_text="The job's state.")
    state_display = serializers.CharField()
    attempts = serializers.IntegerField()
    reason = serializers.CharField(help_text="The error, or what the last attempt's check said; without internal "
                                             "addresses for non-admins.")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="null without an image, or when hidden.")
    image_hidden = serializers.BooleanField(help_text="The photo is marked as identifying: lists do not show it.")
    sample_url = serializers.CharField(help_text="The sample's page (its review page).")


class RunErrorGroupSerializer(serializers.Serializer):
    error = serializers.CharField()
    count = serializers.IntegerField(help_text="How many failed samples share this error (numbers aside).")
    sample_id = serializers.IntegerField(allow_null=True, help_text="The first of them.")
    sample_url = serializers.CharField(allow_null=True)


class RunThroughputSerializer(serializers.Serializer):
    per_minute = serializers.FloatField(allow_null=True, help_text="Samples finished per minute; null before the "
                                                                   "first finishes.")
    basis = serializers.CharField(help_text="'last 5 min' while running, 'whole run' after it ended.")
    text = serializers.CharField()


class RunProgressCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    accepted = serializers.IntegerField()
    needs_expert = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    attempts = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    percent = serializers.FloatField()
    summary = serializers.CharField()


class RunPageSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    num_pages = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Jobs matching the state filter.")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="The page's job ids, in order.")
    notice = serializers.CharField(help_text="Set when the page asked for no longer exists (the last is sent).")


class DraftingRunProgressSerializer(serializers.Serializer):
    """What the run page polls: counts, throughput, ETA, grouped errors, and the rows of its page that changed."""

    id = serializers.IntegerField()
    state = serializers.CharField()
    state_display = serializers.CharField()
    active = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Jobs per job state.")
    progress = RunProgressCountsSerializer()
    throughput = RunThroughputSerializer()
    eta_s = serializers.IntegerField(allow_null=True)
    eta_text = serializers.CharField(allow_blank=True)
    elapsed_text = serializers.CharField(help_text="How long the run has been going (or took, once ended).")
    elapsed_label = serializers.CharField()
    unsent = serializers.IntegerField(help_text="Pending jobs the task queue has not received yet (it was down).")
    can_cancel = serializers.BooleanField()
    can_resume = serializers.BooleanField()
    failed_message = serializers.CharField(allow_blank=True)
    errors = RunErrorGroupSerializer(many=True)
    page = RunPageSerializer()
    rows = RunJobRowSerializer(many=True, help_text="The page's rows whose token is not in ?have=.")
