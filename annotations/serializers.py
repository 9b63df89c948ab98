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
