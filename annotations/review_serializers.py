from __future__ import annotations

from rest_framework import serializers

from annotations.models import CaptionDraft, CaptionRevision, DraftingRun, FieldFrequencyAnalysis, SampleEvent
from annotations.review_services import REJECT_REASONS
from annotations.schema import FIELDS


class CaptionDraftSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaptionDraft
        fields = ["id", "attempt", "prompt_version", "drafter_model", "structurer_model", "diagnoser_model",
                  "description", "caption", "caption_error", "diagnoses", "judge_category", "judge_rationale",
                  "consistent", "prompt_tokens", "completion_tokens", "created_at"]
        read_only_fields = fields


class CaptionRevisionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = CaptionRevision
        fields = ["id", "version", "author", "caption", "base_caption", "check_state", "diagnoses",
                  "judge_category", "judge_rationale", "check_error", "created_at"]
        read_only_fields = fields


class SampleEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = SampleEvent
        fields = ["id", "kind", "kind_display", "actor", "detail", "created_at"]
        read_only_fields = fields


class ReviewSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="sample.id")
    dataset = serializers.CharField(source="sample.dataset.name")
    label = serializers.CharField(source="sample.label")
    state = serializers.CharField(source="sample.state")
    rejection_reason = serializers.CharField(source="sample.rejection_reason")
    fitzpatrick = serializers.IntegerField(source="sample.fitzpatrick", allow_null=True)
    audit = serializers.BooleanField(source="sample.audit")
    caption_version = serializers.IntegerField(source="sample.caption_version")
    caption = serializers.DictField(child=serializers.CharField(allow_blank=True), allow_null=True)
    claimed_by = serializers.CharField(source="claimed_by.username", default=None)
    claim_expires_at = serializers.DateTimeField(source="sample.claim_expires_at", allow_null=True)
    image_url = serializers.SerializerMethodField()
    last_error = serializers.CharField(source="sample.last_error")
    drafts = CaptionDraftSerializer(many=True)
    best_draft_id = serializers.IntegerField(allow_null=True)
    revisions = CaptionRevisionSerializer(many=True)
    events = SampleEventSerializer(many=True)

    def get_image_url(self, obj) -> str:
        return f"/samples/{obj['sample'].id}/image/"


class CaptionField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, trim_whitespace=False)


class SaveRevisionSerializer(serializers.Serializer):
    caption = CaptionField(help_text=f"The 12 fields: {', '.join(FIELDS)}")
    base_version = serializers.IntegerField(min_value=0, help_text="The caption_version the reviewer edited.")


class RejectSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=list(REJECT_REASONS))
    note = serializers.CharField(required=False, allow_blank=True, default="")


class OverrideSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The saved caption_version you accept.")
    reason = serializers.CharField(allow_blank=True, help_text="Why you accept it although the re-check disagrees "
                                                               "(required; kept in the history).")


class ReopenSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class NextSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(required=False, allow_null=True)


class BulkAcceptSerializer(serializers.Serializer):
    sample_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=10_000)
    dry_run = serializers.BooleanField(default=False, help_text="Preview only: change nothing.")


class BulkAcceptPreviewSerializer(serializers.Serializer):
    """One row of the bulk-accept preview (annotations.review_selectors.bulk_accept_preview)."""

    id = serializers.IntegerField(source="sample.id")
    label = serializers.CharField(source="sample.label")
    thumbnail_url = serializers.SerializerMethodField()
    caption = serializers.JSONField(source="draft.caption", default=None)
    verdict = serializers.CharField()
    consistent = serializers.BooleanField(source="draft.consistent", default=False)
    eligible = serializers.BooleanField()
    why_not = serializers.CharField()

    def get_thumbnail_url(self, row) -> str:
        return f"/samples/{row['sample'].id}/thumbnail/"


class AuditSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    count = serializers.IntegerField(min_value=1, max_value=10_000)
    seed = serializers.IntegerField(required=False, allow_null=True)


class DraftingRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = DraftingRun
        fields = ["id", "dataset", "split", "max_attempts", "consistency_k", "prompt_version", "state", "created_at",
                  "finished_at", "progress"]
        read_only_fields = ["prompt_version", "state", "created_at", "finished_at", "progress"]

    def get_progress(self, run: DraftingRun) -> dict:
        from annotations.drafting_services import run_progress

        return run_progress(run)


class FieldFrequencySerializer(serializers.ModelSerializer):
    class Meta:
        model = FieldFrequencyAnalysis
        fields = ["id", "dataset", "captions", "answers", "filled", "cited", "weights", "created_at"]
        read_only_fields = ["captions", "answers", "filled", "cited", "weights", "created_at"]
