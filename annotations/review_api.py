"""REST API of the review tool and of machine drafting runs."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from annotations import drafting_services, review_selectors, review_services
from annotations.models import CaptionRevision, Dataset, DraftingRun, FieldFrequencyAnalysis, Sample
from annotations.review_serializers import (AuditResultSerializer, AuditSerializer, BulkAcceptPreviewSerializer,
                                            BulkAcceptResultSerializer, BulkAcceptSerializer,
                                            CaptionRevisionSerializer, DraftingRunSerializer, FieldEditSerializer,
                                            FieldFrequencySerializer, IdentifyingSerializer, NextSerializer,
                                            OverrideSerializer, QueueCountsSerializer, RecentActionSerializer,
                                            RejectSerializer, ReopenSerializer, ReviewSampleSerializer,
                                            SaveRevisionSerializer, UndoResultSerializer, UndoSerializer)
from webapp import audit
from webapp.models import AccessEvent
from webapp.params import int_or_none
from webapp.roles import ADMIN, IsAdminOrReadOnly, IsAdminRole, has_role


def _detail(sample: Sample, request: Request) -> dict:
    # The request tells the serializer whether error texts may keep internal addresses (admins only).
    detail = review_selectors.review_detail(sample, is_admin=has_role(request.user, ADMIN))
    return ReviewSampleSerializer(detail, context={"request": request}).data


def _error(exc: review_services.ReviewError) -> Response:
    """The one translation of a review service error: its message, under the status it carries. A stale
    save also gets the other version, so the page can show both."""
    body: dict = {"detail": str(exc), "errors": exc.errors}
    if isinstance(exc, review_services.StaleVersion):
        body.update(current_version=exc.sample.caption_version, current_caption=exc.sample.caption,
                    current_revision=CaptionRevisionSerializer(exc.latest).data if exc.latest else None)
    return Response(body, status=exc.status_code)


def _invalid_save(errors: dict) -> dict:
    """DRF's field errors for a save, plus what the review page shows: one ``detail`` line and ``errors``
    keyed by caption field (or ``base_version``), so each message can stand next to its field."""
    flat: dict[str, str] = {}
    for key, value in errors.items():
        if key == "caption" and isinstance(value, dict):
            flat.update({f: " ".join(map(str, v)) if isinstance(v, list) else str(v) for f, v in value.items()})
        else:
            flat[key] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    lines = "; ".join(f"{k}: {v}" for k, v in flat.items())
    return {**errors, "detail": f"The caption was not saved: {lines}", "errors": flat}


_REFUSED = {400: OpenApiResponse(description="invalid request; the detail says what to fix"),
            403: OpenApiResponse(description="your role may not do this"),
            409: OpenApiResponse(description="no live claim of yours (none, expired, someone else's), a stale "
                                             "version, or a sample that does not wait for review")}


class ReviewSampleViewSet(viewsets.GenericViewSet):
    """Claim, inspect, revise and decide samples (dermatologists and admins)."""

    queryset = Sample.objects.select_related("dataset", "claimed_by")
    serializer_class = ReviewSampleSerializer

    @extend_schema(request=NextSerializer, responses={200: ReviewSampleSerializer, 204: None})
    @action(detail=False, methods=["post"])
    def next(self, request: Request) -> Response:
        """Your current claim, or a new one; 204 when nothing is waiting."""
        body = NextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dataset = get_object_or_404(Dataset, pk=body.validated_data["dataset"]) \
            if body.validated_data.get("dataset") else None
        sample = review_services.claim_next(request.user, dataset=dataset)
        if sample is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        audit.record(request, AccessEvent.Action.REVIEW_CLAIM, sample)
        # The claimed row as the claim left it (dataset and claimant filled in): answered without reading it again.
        return Response(_detail(sample, request))

    def retrieve(self, request: Request, pk: str) -> Response:
        sample = self.get_object()
        audit.record(request, AccessEvent.Action.SAMPLE_VIEW, sample)
        return Response(_detail(sample, request))

    @extend_schema(request=None, responses={200: ReviewSampleSerializer, 409: OpenApiResponse(description="claimed by another reviewer")})
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, pk: str) -> Response:
        try:
            review_services.heartbeat(request.user, self.get_object())
        except review_services.ReviewError as exc:
            return _error(exc)
        return Response(_detail(self.get_object(), request))

    @extend_schema(request=SaveRevisionSerializer, responses={201: CaptionRevisionSerializer, **_REFUSED})
    @action(detail=True, methods=["post"])
    def revisions(self, request: Request, pk: str) -> Response:
        """Save a caption on top of ``base_version``; a stale version gets 409 with the other version."""
        body = SaveRevisionSerializer(data=request.data)
        if not body.is_valid():
            return Response(_invalid_save(body.errors), status=status.HTTP_400_BAD_REQUEST)
        sample = self.get_object()
        try:
            revision = review_services.save_revision(request.user, sample, body.validated_data["caption"],
                                                     body.validated_data["base_version"])
        except review_services.ReviewError as exc:
            return _error(exc)
        audit.record(request, AccessEvent.Action.REVIEW_SAVE, revision, sample_id=sample.pk, version=revision.version)
        return Response(CaptionRevisionSerializer(revision, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=OverrideSerializer, responses={200: ReviewSampleSerializer, **_REFUSED})
    @action(detail=True, methods=["post"])
    def override(self, request: Request, pk: str) -> Response:
        """Accept the saved caption ``version`` as expert although its re-check disagreed; a reason is required."""
        body = OverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sample = self.get_object()
        try:
            review_services.accept_override(request.user, sample, body.validated_data["reason"],
                                            body.validated_data["version"])
        except review_services.ReviewError as exc:
            return _error(exc)
        audit.record(request, AccessEvent.Action.REVIEW_OVERRIDE, sample, version=body.validated_data["version"])
        return Response(_detail(self.get_object(), request))

    @extend_schema(request=RejectSerializer, responses={200: ReviewSampleSerializer, **_REFUSED})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        body = RejectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sample = self.get_object()
        try:
            review_services.reject(request.user, sample, body.validated_data["reason"], body.validated_data["note"])
        except review_services.ReviewError as exc:
            return _error(exc)
        audit.record(request, AccessEvent.Action.REVIEW_REJECT, sample, reason=body.validated_data["reason"])
        return Response(_detail(self.get_object(), request))

    @extend_schema(request=IdentifyingSerializer, responses={200: ReviewSampleSerializer, **_REFUSED})
    @action(detail=True, methods=["post"])
    def identifying(self, request: Request, pk: str) -> Response:
        """Mark (``identifying: true``) or unmark the picture as identifying the patient; needs no claim."""
        body = IdentifyingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            review_services.mark_identifying(request.user, self.get_object(), body.validated_data["identifying"],
                                             body.validated_data["note"])
        except review_services.ReviewError as exc:
            return _error(exc)
        audit.record(request, AccessEvent.Action.SAMPLE_IDENTIFYING, self.get_object(),
                     identifying=body.validated_data["identifying"])
        return Response(_detail(self.get_object(), request))

    @extend_schema(request=ReopenSerializer, responses={200: ReviewSampleSerializer, **_REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[IsAdminRole])
    def reopen(self, request: Request, pk: str) -> Response:
        """Admins: a rejected sample goes back to needs_expert."""
        body = ReopenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sample = self.get_object()
        try:
            review_services.reopen(request.user, sample, body.validated_data["note"])
        except review_services.ReviewError as exc:
            return _error(exc)
        audit.record(request, AccessEvent.Action.REVIEW_REOPEN, sample)
        return Response(_detail(self.get_object(), request))

    @extend_schema(request=None, responses={204: None, **_REFUSED})
    @action(detail=True, methods=["post"])
    def skip(self, request: Request, pk: str) -> Response:
        sample = self.get_object()
        try:
            review_services.skip(request.user, sample)
        except review_services.ReviewError as exc:
            return _error(exc)
        audit.record(request, AccessEvent.Action.REVIEW_SKIP, sample)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: QueueCountsSerializer},
                   parameters=[OpenApiParameter("dataset", int, description="Only this dataset's samples.")])
    @action(detail=False, methods=["get"], pagination_class=None)
    def counts(self, request: Request) -> Response:
        """Queue counts (of one dataset with ``?dataset=``) and how many samples wait for you there."""
        dataset = Dataset.objects.filter(pk=int_or_none(request.query_params.get("dataset"))).first()
        if request.query_params.get("dataset") and dataset is None:
            return Response({"detail": "No such dataset: give the id of an existing dataset, or leave it out for "
                                       "all datasets."}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"dataset": dataset.pk if dataset else None,
                         "waiting_for_you": review_selectors.waiting_for(request.user, dataset),
                         **review_selectors.queue_counts(dataset)})

    @extend_schema(responses={200: RecentActionSerializer(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None)
    def recent(self, request: Request) -> Response:
        """Your last 20 review actions, newest first; the newest says whether it can be undone (``undo``)."""
        return Response(RecentActionSerializer(review_selectors.recent_actions(request.user), many=True).data)

    @extend_schema(request=UndoSerializer, responses={200: UndoResultSerializer, **_REFUSED})
    @action(detail=False, methods=["post"])
    def undo(self, request: Request) -> Response:
        """Take back your last review action (``event`` from ``recent``): within 10 minutes, only while nobody
        else changed the sample. The sample waits for your review again, claimed by you; history is kept."""
        body = UndoSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = review_services.undo(request.user, body.validated_data["event"])
        except review_services.ReviewError as exc:
            return _error(exc)
        # The undo hands the sample back to its reviewer under a claim: recorded as that claim.
        audit.record(request, AccessEvent.Action.REVIEW_UNDO, result["sample"], undo=body.validated_data["event"])
        return Response({"message": result["message"], "sample": _detail(result["sample"], request)})

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str) -> Response:
        """Give up your claim (nothing happens without one). The review page calls this with
        ``navigator.sendBeacon`` when it is closed: a form-encoded body carrying ``csrfmiddlewaretoken``."""
        review_services.release(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=BulkAcceptSerializer, responses={200: BulkAcceptResultSerializer})
    @action(detail=False, methods=["post"], url_path="bulk-accept", permission_classes=[IsAdminRole])
    def bulk_accept(self, request: Request) -> Response:
        """Admins: accept the best machine draft of each listed needs_expert sample, only drafts whose
        consistency check passed. With ``dry_run: true`` nothing changes: the answer previews each sample."""
        body = BulkAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["sample_ids"]
        if body.validated_data["dry_run"]:
            rows = review_selectors.bulk_accept_preview(ids)
            audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [r["sample"].pk for r in rows])
            return Response({"dry_run": True, "accepted": sum(r["eligible"] for r in rows),
                             "skipped": sum(not r["eligible"] for r in rows),
                             "samples": BulkAcceptPreviewSerializer(rows, many=True).data})
        result = review_services.bulk_accept(request.user, ids)
        audit.record_samples(request, AccessEvent.Action.REVIEW_BULK_ACCEPT, ids, **result)
        return Response(result)

    @extend_schema(request=AuditSerializer, responses={200: AuditResultSerializer})
    @action(detail=False, methods=["post"], permission_classes=[IsAdminRole])
    def audit(self, request: Request) -> Response:
        """Admins: draw auto-accepted samples of a dataset for expert audit."""
        body = AuditSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dataset = get_object_or_404(Dataset, pk=body.validated_data["dataset"])
        drawn = review_services.draw_audit(request.user, dataset, body.validated_data["count"],
                                           body.validated_data.get("seed"))
        audit.record(request, AccessEvent.Action.REVIEW_AUDIT_DRAW, dataset, requested=body.validated_data["count"],
                     drawn=drawn)
        return Response({"drawn": drawn})

    @extend_schema(responses={200: FieldEditSerializer(many=True)},
                   parameters=[OpenApiParameter("dataset", int, description="Only this dataset's revisions.")])
    @action(detail=False, methods=["get"], url_path="field-edits", permission_classes=[IsAdminRole],
            pagination_class=None)
    def field_edits(self, request: Request) -> Response:
        """Admins: which caption fields reviewers change most."""
        dataset = Dataset.objects.filter(pk=int_or_none(request.query_params.get("dataset"))).first()
        return Response(review_selectors.field_edit_stats(dataset))


class RevisionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A revision and the state of its consistency re-check (poll until it leaves 'pending')."""

    queryset = CaptionRevision.objects.select_related("author")
    serializer_class = CaptionRevisionSerializer


class DraftingRunViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Machine drafting runs: create (admins) to draft every new sample of a dataset; progress; cancel; resume."""

    queryset = DraftingRun.objects.select_related("dataset")
    serializer_class = DraftingRunSerializer
    permission_classes = [IsAdminOrReadOnly]
    filterset_fields = ["dataset", "state"]

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            run = drafting_services.create_run(data["dataset"], user=request.user, split=data.get("split", ""),
                                               max_attempts=data.get("max_attempts", 5),
                                               consistency_k=data.get("consistency_k", 1))
        except drafting_services.DraftingRejected as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        audit.record_drafting(request, AccessEvent.Action.DRAFTING_RUN_CREATE, run, run.jobs.count())
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: DraftingRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        drafting_services.cancel_run(run)
        run.refresh_from_db()
        return Response(self.get_serializer(run).data)

    @extend_schema(request=None, responses={200: DraftingRunSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        requeued = drafting_services.resume_run(run)
        audit.record_drafting(request, AccessEvent.Action.DRAFTING_RESUME, run, requeued)
        run.refresh_from_db()
        return Response(self.get_serializer(run).data)


class FieldFrequencyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                            viewsets.GenericViewSet):
    """The field-ranking analysis; creating one recomputes it (admins). Its weights feed the caption reward."""

    queryset = FieldFrequencyAnalysis.objects.all()
    serializer_class = FieldFrequencySerializer
    permission_classes = [IsAdminOrReadOnly]
    filterset_fields = ["dataset"]

    def create(self, request: Request, *args, **kwargs) -> Response:
        dataset = Dataset.objects.filter(pk=int_or_none(request.data.get("dataset"))).first()
        analysis = review_services.analyse_field_frequency(dataset, request.user)
        return Response(self.get_serializer(analysis).data, status=status.HTTP_201_CREATED)
