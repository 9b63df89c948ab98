"""REST API for training (admins): runs with metrics, cancel and launch; snapshots; checkpoints."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotations.models import Dataset
from training import selectors, services
from training.models import Checkpoint, DatasetSnapshot, Stage, TrainingRun
from webapp import audit
from webapp.params import is_whole_number
from webapp.roles import IsAdminRole


class CheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Checkpoint
        fields = ["id", "run", "step", "path", "is_final", "created_at"]


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = ["id", "dataset", "split", "stage", "k", "version", "rows", "content_hash", "sample_ids", "override_ids",
                  "path", "state", "error", "created_at"]


class TrainingRunSerializer(serializers.ModelSerializer):
    checkpoints = CheckpointSerializer(many=True, read_only=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "name", "lineage", "stage", "engine", "base_model_path", "tiny_model", "init_checkpoint", "dve",
                  "dve_k", "k", "train_on_overrides", "hyperparameters", "reward_settings", "snapshot", "state",
                  "cancel_requested", "error", "device", "worker_host", "reward_warning", "heartbeat_at",
                  "created_at", "started_at", "finished_at", "checkpoints"]
        read_only_fields = fields


class LaunchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    lineage = serializers.CharField(max_length=100, default="default")
    stage = serializers.ChoiceField(choices=Stage.choices)
    engine = serializers.ChoiceField(choices=TrainingRun.Engine.choices, default="trl")
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
    split = serializers.CharField(default="train")
    k = serializers.IntegerField(min_value=1, default=6)
    base_model_path = serializers.CharField(required=False, allow_blank=True, default="")
    tiny_model = serializers.BooleanField(
        default=False, help_text="Smoke test: start from the tiny CPU model the worker builds (leave base_model_path "
                                 "and init_checkpoint empty); small default hyperparameters.")
    # The checkpoints the launch form offers: those of succeeded runs.
    init_checkpoint = serializers.PrimaryKeyRelatedField(queryset=selectors.finished_checkpoints(), required=False,
                                                         allow_null=True)
    train_on_overrides = serializers.BooleanField(
        default=True, help_text="Stage I: include captions experts accepted against the LLM re-check (expert_override).")
    dve = serializers.BooleanField(default=True)
    dve_k = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    hyperparameters = serializers.DictField(required=False, default=dict)
    reward_settings = serializers.DictField(required=False, default=dict)
    verl_options = serializers.DictField(required=False, default=dict)

    def validate_base_model_path(self, value: str) -> str:
        # launch_run refuses it too (a 400 with "detail"); here the error names the field.
        from training.engines import EngineError
        from training.engines.spec import check_engine_path

        try:
            return check_engine_path(value, "base model path")
        except EngineError as exc:
            raise serializers.ValidationError(str(exc)) from None


# What ``metrics`` answers: one object per optimizer step, the step and every finite metric the engine logged
# under its own name (training.metrics.normalize), so the names are open but the values are always numbers.
METRIC_POINTS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"step": {"type": "integer", "minimum": 0}},
        "required": ["step"],
        "additionalProperties": {"type": "number"},
    },
}


class TrainingRunViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = TrainingRun.objects.prefetch_related("checkpoints")
    serializer_class = TrainingRunSerializer
    permission_classes = [IsAdminRole]
    filterset_fields = ["state", "stage", "engine", "lineage"]

    @extend_schema(request=LaunchSerializer, responses={201: TrainingRunSerializer})
    def create(self, request, *args, **kwargs):
        launch = LaunchSerializer(data=request.data)
        launch.is_valid(raise_exception=True)
        data = dict(launch.validated_data)
        started = timezone.now()  # a snapshot created after this is this launch's (create_snapshot reuses one)
        try:
            with transaction.atomic():
                snapshot = services.create_snapshot(data.pop("dataset"), data.pop("split"), data["stage"], k=data["k"],
                                                    user=request.user, build=False,
                                                    include_overrides=data["train_on_overrides"])
                run = services.launch_run(snapshot=snapshot, user=request.user, **data)
        except services.TrainingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        audit.record_launch(request, run, snapshot, snapshot_created=snapshot.created_at >= started)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: METRIC_POINTS_SCHEMA})
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        run = self.get_object()
        return Response([{"step": step, **values} for step, values in selectors.metric_points(run)])

    @extend_schema(parameters=[OpenApiParameter("after", int, description=(
        "Only the metric points after this step (the previous answer's cursor); without it the last 20."))],
        responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        """State, step/total, latest metrics, metric points, log tail, rollout samples, warning, device."""
        run = self.get_object()
        after = request.query_params.get("after", "")
        if after and not is_whole_number(after):
            return Response({"after": [f"expected a step number (an integer >= 0), got {after!r}"]},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(selectors.progress(run, after=int(after) if after else None))

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = services.request_cancel(self.get_object())
        return Response(TrainingRunSerializer(run).data)


class SnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = DatasetSnapshot.objects.all()
    serializer_class = SnapshotSerializer
    permission_classes = [IsAdminRole]


class EvaluateCheckpointSerializer(serializers.Serializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all(), required=False, allow_null=True,
                                                 help_text="Default: the dataset of the run's snapshot.")
    split = serializers.ChoiceField(choices=["train", "val", "test"], default="test")
    sample_size = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    k = serializers.IntegerField(min_value=1, max_value=20, required=False, allow_null=True)
    judge_repeats = serializers.IntegerField(min_value=1, max_value=10, default=3)
    confirm_overlap = serializers.BooleanField(default=False, help_text="Evaluate samples that trained it anyway.")


class CheckpointViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Checkpoint.objects.select_related("run")
    serializer_class = CheckpointSerializer
    permission_classes = [IsAdminRole]

    @extend_schema(request=EvaluateCheckpointSerializer, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        """Start a local-checkpoint evaluation run of this checkpoint; answers its id and report URL."""
        from django.urls import reverse

        from webapp.models import AccessEvent

        checkpoint = self.get_object()
        given = EvaluateCheckpointSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            run = services.evaluate_checkpoint(checkpoint, user=request.user, **given.validated_data)
        except services.TrainingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        audit.record(request, AccessEvent.Action.EVAL_RUN_CREATE, run, samples=run.items.count(),
                     checkpoint=checkpoint.pk)
        return Response({"id": run.pk, "kind": run.kind, "checkpoint": run.checkpoint, "split": run.split,
                         "url": reverse("eval-run", args=[run.pk])}, status=status.HTTP_201_CREATED)
