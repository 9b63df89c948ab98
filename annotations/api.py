"""REST API for datasets and samples."""

from __future__ import annotations

from dataclasses import asdict

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotations import selectors, services
from annotations.files import protected_file
from annotations.filters import SampleFilter
from annotations.import_report import ImportRejected
from annotations.serializers import (DatasetSerializer, ImportResultSerializer, SampleSerializer,
                                     UploadSerializer)
from webapp import audit
from webapp.models import AccessEvent
from webapp.roles import IsAdminOrReadOnly


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DatasetSerializer
    permission_classes = [IsAdminOrReadOnly]

    def get_queryset(self):
        return selectors.dataset_list()

    # 201 when the import was committed; a refused one is a 400 (its report, or a "detail" for a bad archive).
    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: ImportResultSerializer})
    @action(detail=False, methods=["post"], url_path="upload", parser_classes=[MultiPartParser, FormParser])
    def upload(self, request: Request) -> Response:
        """Import a ZIP of <label>/<image> folders (or with labels.csv), or loose images with one label (admin)."""
        payload = UploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            result = services.import_upload(
                data["dataset"], archive=data.get("archive"), images=request.FILES.getlist("images"),
                label=data.get("label", ""), skip_bad_rows=data["skip_bad_rows"], user=request.user,
            )
        except ImportRejected as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        audit.record_import(request, data["dataset"], result)
        body = {**asdict(result), "summary": result.summary()}
        return Response(ImportResultSerializer(body).data,
                        status=status.HTTP_201_CREATED if result.committed else status.HTTP_400_BAD_REQUEST)


class SampleViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SampleSerializer
    filterset_class = SampleFilter

    def get_queryset(self):
        return selectors.sample_queryset()

    def list(self, request: Request, *args, **kwargs) -> Response:
        response = super().list(request, *args, **kwargs)
        rows = response.data["results"] if isinstance(response.data, dict) else response.data
        audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [row["id"] for row in rows])
        return response

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        sample = self.get_object()
        audit.record(request, AccessEvent.Action.SAMPLE_VIEW, sample)
        return Response(self.get_serializer(sample).data)

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def image(self, request: Request, pk: str) -> FileResponse:
        sample = self.get_object()
        response = protected_file(sample.image)
        audit.record(request, AccessEvent.Action.IMAGE_VIEW, sample)
        return response

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def thumbnail(self, request: Request, pk: str) -> FileResponse:
        sample = self.get_object()
        services.ensure_thumbnail(sample)
        response = protected_file(sample.thumbnail, "image/jpeg")
        audit.record(request, AccessEvent.Action.THUMBNAIL_VIEW, sample)
        return response
