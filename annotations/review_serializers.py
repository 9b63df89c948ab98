from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.models import CaptionDraft, CaptionRevision, DraftingRun, FieldFrequencyAnalysis, SampleEvent
from annotations.review_services import REJECT_REASONS
from annotations.schema import FIELDS, LESION_TYPES
from webapp.redact import error_for, errors_in
from webapp.redact_fields import PublicErrorField, viewer_is_admin


# --- The review answers without DRF's per-field machinery ---------------------------------------------------
# claim-next answers a sample with its drafts, revisions, events, history and re-check; DRF built ~100 field
# objects per answer (deep copies, model introspection) and walked them: 5.5-7 ms of CPU per claim answer and
# 0.8-1.3 ms per revision (every save and every re-check poll), against 0.3 and 0.06 ms written directly
# (benchmarks/bench_review_load.py's load). ReviewSampleSerializer and CaptionRevisionSerializer keep their
# declared fields (the OpenAPI schema, the documentation) and write the same JSON directly: each helper is what
# DRF's field does, including its rule that a None attribute is answered as null whatever the field's type.
# A field declared there must be written here too (same name, same order).

_DATETIME = serializers.DateTimeField()  # unbound and stateless: the project's time zone, ISO 8601 with "Z"


def _dt(value: Any) -> Any:
    return None if value is None else _DATETIME.to_representation(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _str_list(values: Any) -> list | None:  # ListField(child=CharField())
    return None if values is None else [None if v is None else str(v) for v in values]


def _str_dict(values: Any) -> dict | None:  # DictField(child=CharField())
    return None if values is None else {str(k): None if v is None else str(v) for k, v in values.items()}


def _error(value: Any, is_admin: bool) -> str | None:  # PublicErrorField
    return None if value is None else error_for(str(value), is_admin=is_admin)


def _draft(d: CaptionDraft, is_admin: bool) -> dict:
    return {"id": _int(d.id), "attempt": _int(d.attempt), "prompt_version": _str(d.prompt_version),
            "drafter_model": _str(d.drafter_model), "structurer_model": _str(d.structurer_model),
            "diagnoser_model": _str(d.diagnoser_model), "description": _str(d.description), "caption": d.caption,
            "caption_error": _error(d.caption_error, is_admin), "diagnoses": d.diagnoses,
            "judge_category": _str(d.judge_category), "judge_rationale": _str(d.judge_rationale),
            "consistent": _bool(d.consistent), "prompt_tokens": _int(d.prompt_tokens),
            "completion_tokens": _int(d.completion_tokens), "created_at": _dt(d.created_at)}


def _revision(r: CaptionRevision, is_admin: bool) -> dict:
    return {"id": _int(r.id), "version": _int(r.version), "author": _str(r.author.username), "caption": r.caption,
            "base_caption": r.base_caption, "check_state": _str(r.check_state), "diagnoses": r.diagnoses,
            "judge_category": _str(r.judge_category), "judge_rationale": _str(r.judge_rationale),
            "check_error": _error(r.check_error, is_admin), "created_at": _dt(r.created_at)}


def _event(e: SampleEvent, is_admin: bool) -> dict:
    actor = e.actor if e.actor_id is not None else None
    detail = e.detail
    return {"id": _int(e.id), "kind": _str(e.kind), "kind_display": _str(e.get_kind_display()),
            "actor": _str(actor.username) if actor is not None else None,
            # SampleEventSerializer filters the detail after DRF's null rule, so a None detail is filtered too.
            "detail": errors_in(detail, is_admin=is_admin), "created_at": _dt(e.created_at)}


def _history_row(row: dict) -> dict:
    changes = row["changes"]
    return {"id": _int(row["id"]), "at": _dt(row["at"]), "kind": _str(row["kind"]),
            "kind_display": _str(row["kind_display"]), "actor": _str(row["actor"]), "summary": _str(row["summary"]),
            "changes": None if changes is None else [
                {"field": _str(c["field"]), "old": _str(c["old"]), "new": _str(c["new"])} for c in changes],
            "note": _str(row["note"])}


def _recheck(r: dict) -> dict:
    cited = r["cited"]
    return {"version": _int(r["version"]), "state": _str(r["state"]), "headline": _str(r["headline"]),
            "malformed": _bool(r["malformed"]), "diagnoses": _str_list(r["diagnoses"]),
            "category": _str(r["category"]), "rationale": _str(r["rationale"]), "raw_answer": _str(r["raw_answer"]),
            "cited": None if cited is None else {str(k): _str_list(v) for k, v in cited.items()}}


class CaptionDraftSerializer(serializers.ModelSerializer):
    caption_error = PublicErrorField(allow_blank=True)  # LLM errors name internal hosts: admins only

    class Meta:
        model = CaptionDraft
        fields = ["id", "attempt", "prompt_version", "drafter_model", "structurer_model", "diagnoser_model",
                  "description", "caption", "caption_error", "diagnoses", "judge_category", "judge_rationale",
                  "consistent", "prompt_tokens", "completion_tokens", "created_at"]
        read_only_fields = fields


class CaptionRevisionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    check_error = PublicErrorField(allow_blank=True)

    class Meta:
        model = CaptionRevision
        fields = ["id", "version", "author", "caption", "base_caption", "check_state", "diagnoses",
                  "judge_category", "judge_rationale", "check_error", "created_at"]
        read_only_fields = fields

    def to_representation(self, instance: CaptionRevision) -> dict:
        # The declared fields' output, written directly (see _revision): the save's answer and every poll.
        return _revision(instance, viewer_is_admin(self.context))


class SampleEventSerializer(serializers.ModelSerializer):
    # Null for the system's own events and once the account is deleted (SET_NULL): the schema says so.
    actor = serializers.CharField(source="actor.username", default=None, read_only=True, allow_null=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = SampleEvent
        fields = ["id", "kind", "kind_display", "actor", "detail", "created_at"]
        read_only_fields = fields

    def to_representation(self, instance: SampleEvent) -> dict:
        data = super().to_representation(instance)
        # drafting and re-check events keep the LLM's error whole ("... at http://10.0.0.5:8009/v1"): admins only
        data["detail"] = errors_in(data["detail"], is_admin=viewer_is_admin(self.context))
        return data


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=list(FIELDS))
    old = serializers.CharField(allow_blank=True)
    new = serializers.CharField(allow_blank=True)


class HistoryRowSerializer(serializers.Serializer):
    """One history entry as a person reads it (``review_selectors.history``)."""

    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    kind_display = serializers.CharField()
    actor = serializers.CharField(allow_null=True)
    summary = serializers.CharField(allow_blank=True, help_text="Version, reasons, re-check outcome in words.")
    changes = FieldChangeSerializer(many=True, help_text="For a saved (or restored) caption: old -> new per field.")
    note = serializers.CharField(allow_blank=True, help_text="The reviewer's or admin's note, in full.")


class RecheckSerializer(serializers.Serializer):
    """The latest revision's re-check in plain words (``review_selectors.recheck_summary``)."""

    version = serializers.IntegerField()
    state = serializers.CharField()
    headline = serializers.CharField()
    malformed = serializers.BooleanField(help_text="The diagnoser's answer could not be read: nothing was inferred.")
    diagnoses = serializers.ListField(child=serializers.CharField())
    category = serializers.CharField(allow_blank=True)
    rationale = serializers.CharField(allow_blank=True)
    raw_answer = serializers.CharField(allow_blank=True, help_text="What the diagnoser wrote, when it was malformed.")
    cited = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                  help_text="caption field -> diagnoses the diagnoser read from it")


class ReviewSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="sample.id")
    dataset = serializers.CharField(source="sample.dataset.name")
    label = serializers.CharField(source="sample.label")
    state = serializers.CharField(source="sample.state")
    rejection_reason = serializers.CharField(source="sample.rejection_reason")
    fitzpatrick = serializers.IntegerField(source="sample.fitzpatrick", allow_null=True)
    audit = serializers.BooleanField(source="sample.audit")
    identifying_content = serializers.BooleanField(
        source="sample.identifying_content",
        help_text="A reviewer marked the picture as identifying (face, tattoo, ...): it is kept out of exports.")
    caption_version = serializers.IntegerField(source="sample.caption_version")
    caption = serializers.DictField(child=serializers.CharField(allow_blank=True), allow_null=True)
    claimed_by = serializers.CharField(source="claimed_by.username", default=None, allow_null=True,
                                       help_text="Null when nobody holds a claim.")
    claim_expires_at = serializers.DateTimeField(source="sample.claim_expires_at", allow_null=True)
    image_url = serializers.SerializerMethodField()
    last_error = PublicErrorField(source="sample.last_error", allow_blank=True)
    drafts = CaptionDraftSerializer(many=True)
    best_draft_id = serializers.IntegerField(allow_null=True)
    revisions = CaptionRevisionSerializer(many=True)
    events = SampleEventSerializer(many=True)
    history = HistoryRowSerializer(many=True)
    recheck = RecheckSerializer(allow_null=True)

    def get_image_url(self, obj) -> str:
        return f"/samples/{obj['sample'].id}/image/"

    def to_representation(self, detail: dict) -> dict:
        # The declared fields' output (review_selectors.review_detail), written directly: see _draft & co.
        is_admin = viewer_is_admin(self.context)
        sample, claimed_by, recheck = detail["sample"], detail["claimed_by"], detail["recheck"]
        return {
            "id": _int(sample.id), "dataset": _str(sample.dataset.name), "label": _str(sample.label),
            "state": _str(sample.state), "rejection_reason": _str(sample.rejection_reason),
            "fitzpatrick": _int(sample.fitzpatrick), "audit": _bool(sample.audit),
            "identifying_content": _bool(sample.identifying_content), "caption_version": _int(sample.caption_version),
            "caption": _str_dict(detail["caption"]),
            "claimed_by": _str(claimed_by.username) if claimed_by is not None else None,
            "claim_expires_at": _dt(sample.claim_expires_at), "image_url": self.get_image_url(detail),
            "last_error": _error(sample.last_error, is_admin),
            "drafts": [_draft(d, is_admin) for d in detail["drafts"]],
            "best_draft_id": _int(detail["best_draft_id"]),
            "revisions": [_revision(r, is_admin) for r in detail["revisions"]],
            "events": [_event(e, is_admin) for e in detail["events"]],
            "history": [_history_row(row) for row in detail["history"]],
            "recheck": None if recheck is None else _recheck(recheck),
        }


# The caption as annotations.schema.parse_caption takes it: exactly the 12 fields, each a string ("" for none).
# Said in the schema so a client (and schemathesis) can build a caption the server accepts.
CAPTION_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "string"} for name in FIELDS} | {"lesion_type": {
        "type": "string", "description": "Comma-separated lesion types from: " + ", ".join(LESION_TYPES) + "."}},
    "required": list(FIELDS),
    "additionalProperties": False,
    "example": {name: ("plaque" if name == "lesion_type" else "") for name in FIELDS},
}


@extend_schema_field(CAPTION_SCHEMA)
class CaptionField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, trim_whitespace=False)


class SaveRevisionSerializer(serializers.Serializer):
    caption = CaptionField(help_text=f"The 12 fields: {', '.join(FIELDS)}")
    base_version = serializers.IntegerField(min_value=0, help_text="The caption_version the reviewer edited.")


class IdentifyingSerializer(serializers.Serializer):
    identifying = serializers.BooleanField(help_text="true: the picture identifies the patient (face, tattoo, "
                                                     "jewellery, a name); the sample leaves every export.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500,
                                 help_text="What identifies the patient, e.g. 'face in frame'.")


class RejectSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=list(REJECT_REASONS))
    note = serializers.CharField(required=False, allow_blank=True, default="")


class OverrideSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The saved caption_version you accept.")
    reason = serializers.CharField(allow_blank=True, help_text="Why you accept it although the re-check disagrees "
                                                               "(required; kept in the history).")


class ReopenSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class UndoSerializer(serializers.Serializer):
    event = serializers.IntegerField(help_text="The id of your last action, as ``recent`` lists it.")


class UndoResultSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What was taken back, and what training snapshots keep.")
    sample = ReviewSampleSerializer()


class RecentActionSerializer(serializers.Serializer):
    """One of your recent review actions (``review_selectors.recent_actions``)."""

    id = serializers.IntegerField(help_text="The action's history entry; pass it to ``undo``.")
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    what = serializers.CharField()
    sample = serializers.IntegerField(source="sample.id")
    dataset = serializers.CharField(source="sample.dataset.name")
    label = serializers.CharField(source="sample.label")
    state = serializers.CharField(help_text="Where the sample stands now.")
    undone = serializers.BooleanField(help_text="A later undo took this action back.")
    can_undo = serializers.BooleanField()
    undo = serializers.CharField(allow_null=True, help_text="Why it cannot be undone; null when it can.")
    url = serializers.SerializerMethodField()

    def get_url(self, row) -> str:
        return f"/review/samples/{row['sample'].id}/"


class QueueCountsSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(allow_null=True)
    waiting_for_you = serializers.IntegerField(help_text="Samples 'review next' can give you (not skipped by you).")
    needs_expert = serializers.IntegerField()
    audit = serializers.IntegerField()
    auto_accepted = serializers.IntegerField()
    expert_accepted = serializers.IntegerField()
    expert_override = serializers.IntegerField()
    rejected = serializers.IntegerField()
    drafting = serializers.IntegerField()
    draft_failed = serializers.IntegerField()


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


class BulkAcceptResultSerializer(serializers.Serializer):
    """The answer of bulk-accept: with ``dry_run`` the preview of each sample, else what was done."""

    dry_run = serializers.BooleanField(required=False, help_text="Present (true) only on a preview.")
    accepted = serializers.IntegerField()
    skipped = serializers.IntegerField()
    samples = BulkAcceptPreviewSerializer(many=True, required=False, help_text="Only on a preview.")


class AuditResultSerializer(serializers.Serializer):
    drawn = serializers.IntegerField(help_text="How many auto-accepted samples were marked for audit.")


class FieldEditSerializer(serializers.Serializer):
    """One caption field in ``review_selectors.field_edit_stats``, most-changed first."""

    field = serializers.ChoiceField(choices=list(FIELDS))
    changed = serializers.IntegerField(help_text="Revisions that changed this field.")
    share = serializers.FloatField(help_text="changed / revisions (0 without revisions).")


class AuditSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    count = serializers.IntegerField(min_value=1, max_value=10_000)
    seed = serializers.IntegerField(required=False, allow_null=True)


class DraftingProgressSerializer(serializers.Serializer):
    """``drafting_services.run_progress``: job counts and tokens, computed from the jobs."""

    total = serializers.IntegerField()
    done = serializers.IntegerField()
    accepted = serializers.IntegerField()
    needs_expert = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    attempts = serializers.IntegerField(help_text="Machine drafts written (every attempt of every job).")


class DraftingRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = DraftingRun
        fields = ["id", "dataset", "split", "max_attempts", "consistency_k", "prompt_version", "state", "created_at",
                  "finished_at", "progress"]
        read_only_fields = ["prompt_version", "state", "created_at", "finished_at", "progress"]

    @extend_schema_field(DraftingProgressSerializer)
    def get_progress(self, run: DraftingRun) -> dict:
        from annotations.drafting_services import run_progress

        return run_progress(run)


class FieldFrequencySerializer(serializers.ModelSerializer):
    class Meta:
        model = FieldFrequencyAnalysis
        fields = ["id", "dataset", "captions", "answers", "filled", "cited", "weights", "created_at"]
        read_only_fields = ["captions", "answers", "filled", "cited", "weights", "created_at"]
