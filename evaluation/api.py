"""REST API: evaluation runs (read for every role; admins create and resume) with metrics and progress."""

from __future__ import annotations

from django.db import transaction
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotations.models import Dataset
from evaluation import selectors, services
from evaluation.models import EvalRun
from webapp.roles import IsAdminOrReadOnly


class EvalRunSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())

    class Meta:
        model = EvalRun
        fields = ["id", "name", "model_name", "kind", "base_url", "endpoint_model", "api_key_env", "dataset",
                  "test_set", "split", "sample_size", "seed", "k", "judge_repeats", "max_concurrency", "uses_dve",
                  "uses_stage1", "price_prompt_per_mtok", "price_completion_per_mtok", "fresh_answers", "status",
                  "error", "metrics", "created_at", "finished_at"]
        read_only_fields = ["kind", "status", "error", "metrics", "created_at", "finished_at"]
        # As on the form: an empty test set is named after the dataset.
        extra_kwargs = {"test_set": {"required": False, "allow_blank": True}}


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
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)

    # ``**kwargs``: a router with format suffixes passes ``format``.
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None, **kwargs):
        return Response(selectors.progress(self.get_object()))

    @action(detail=True, methods=["get"])
    def overrules(self, request, pk=None, **kwargs):
        """The append-only log of dermatologists' verdicts and withdrawals, oldest first."""
        return Response(selectors.overrule_log(self.get_object()))

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None, **kwargs):
        run = self.get_object()
        refusal = services.resume_refusal(run)
        if refusal:
            return Response({"detail": refusal}, status=status.HTTP_409_CONFLICT)
        with transaction.atomic():
            services.start_run(run)
        return Response(selectors.progress(run), status=status.HTTP_202_ACCEPTED)
