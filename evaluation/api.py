"""REST API: evaluation runs (read for every role; admins create and resume) with metrics and progress."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotations.models import Dataset
from evaluation import selectors, services
from evaluation.models import EvalRun
from webapp.redact_fields import PublicErrorField, drop_unless_admin, viewer_is_admin
from webapp import audit
from webapp.models import AccessEvent, key_destination_error
from webapp.roles import IsAdminOrReadOnly


# Where the model under test is served and which variable holds its key: admins only (issue 12).
ADMIN_ONLY_FIELDS = ("base_url", "api_key_env")


class EvalRunSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
    error = PublicErrorField(allow_blank=True)
    confirm_overlap = serializers.BooleanField(
        write_only=True, required=False, default=False,
        help_text="Evaluate anyway when the test set holds training data (the train split, or all splits); "
                  "without it such a run is refused with 400 and the count.")

    class Meta:
        model = EvalRun
        fields = ["id", "name", "model_name", "kind", "base_url", "endpoint_model", "api_key_env", "dataset",
                  "test_set", "split", "sample_size", "seed", "k", "judge_repeats", "max_concurrency", "uses_dve",
                  "uses_stage1", "price_prompt_per_mtok", "price_completion_per_mtok", "fresh_answers", "confirm_overlap",
                  "status", "error", "metrics", "overlap", "lineage", "created_at", "finished_at"]
        read_only_fields = ["kind", "status", "error", "metrics", "overlap", "lineage", "created_at", "finished_at"]
        # As on the form: an empty test set is named after the dataset.
        extra_kwargs = {"test_set": {"required": False, "allow_blank": True},
                        "base_url": {"help_text": "OpenAI-compatible base URL (endpoint runs); shown to admins only."},
                        "api_key_env": {"help_text": "Name of the variable holding the API key; shown to admins only."}}

    def validate(self, attrs: dict) -> dict:
        # The base URL's own validator checks the host (webapp/egress.py); where the key may go needs both.
        error = key_destination_error(attrs.get("base_url", ""), attrs.get("api_key_env", ""))
        if error:
            raise serializers.ValidationError({"api_key_env": [error]})
        return attrs

    def to_representation(self, instance: EvalRun) -> dict:
        return drop_unless_admin(super().to_representation(instance), self.context, ADMIN_ONLY_FIELDS)


class EvalProgressSerializer(serializers.Serializer):
    """What ``evaluation.selectors.progress`` answers: counts so far and what they cost (the schema's truth)."""

    status = serializers.ChoiceField(choices=EvalRun.Status.choices)
    error = serializers.CharField(allow_blank=True)
    items = serializers.IntegerField()
    inferred = serializers.IntegerField()
    judgements = serializers.IntegerField()
    judgements_total = serializers.IntegerField()
    model_prompt_tokens = serializers.IntegerField()
    model_completion_tokens = serializers.IntegerField()
    judge_prompt_tokens = serializers.IntegerField()
    judge_completion_tokens = serializers.IntegerField()
    cost = serializers.FloatField(help_text="Model tokens so far at the run's prices (given per million tokens).")


class OverruleRowSerializer(serializers.Serializer):
    """One row of ``evaluation.selectors.overrule_log``."""

    id = serializers.IntegerField()
    item = serializers.CharField(help_text="The item's external id.")
    rank = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["overrule", "withdraw"])
    category = serializers.CharField(allow_blank=True, help_text="Empty for a withdrawal.")
    judge_category = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    user = serializers.CharField(allow_null=True, help_text="Null once the account is deleted.")
    created_at = serializers.DateTimeField()


class EvalRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = EvalRun.objects.all()
    serializer_class = EvalRunSerializer
    permission_classes = [IsAdminOrReadOnly]
    filterset_fields = ["status", "test_set", "model_name"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = services.create_run(**serializer.validated_data, user=request.user)
        except services.EvalError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        audit.record(request, AccessEvent.Action.EVAL_RUN_CREATE, run, samples=run.items.count())
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)

    # ``**kwargs``: a router with format suffixes passes ``format``.
    @extend_schema(responses=EvalProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None, **kwargs):
        return Response(selectors.progress(self.get_object(), is_admin=viewer_is_admin({"request": request})))

    @extend_schema(responses=OverruleRowSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole log, unpaginated
    def overrules(self, request, pk=None, **kwargs):
        """The append-only log of dermatologists' verdicts and withdrawals, oldest first."""
        run = self.get_object()
        audit.record(request, AccessEvent.Action.EVAL_EXPORT, run, export="overrules")
        return Response(selectors.overrule_log(run))

    @extend_schema(request=None, responses={
        202: EvalProgressSerializer,
        409: OpenApiResponse(description="the run is finished, or still queued or working; the detail says which")})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None, **kwargs):
        run = self.get_object()
        refusal = services.resume_refusal(run)
        if refusal:
            return Response({"detail": refusal}, status=status.HTTP_409_CONFLICT)
        with transaction.atomic():
            services.start_run(run)
        return Response(selectors.progress(run, is_admin=viewer_is_admin({"request": request})),
                        status=status.HTTP_202_ACCEPTED)
