"""REST API for the admin-editable LLM endpoints and the call log (admins only)."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from webapp.models import LLMCall, LLMEndpoint, key_destination_error
from webapp.roles import IsAdminRole


class LLMEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = LLMEndpoint
        fields = ["id", "role", "base_url", "model", "api_key_env", "temperature", "max_concurrency",
                  "requests_per_minute", "timeout_s", "max_retries", "enabled", "updated_at"]
        read_only_fields = ["updated_at"]

    def validate(self, attrs: dict) -> dict:
        # Where the key may go depends on both fields (SKINFLOW_KEY_ENV_HOSTS); a PATCH may change just one.
        def value(name: str, default: object = "") -> object:
            return attrs.get(name, getattr(self.instance, name, default))

        if value("enabled", True):
            error = key_destination_error(str(value("base_url")), str(value("api_key_env")))
            if error:
                raise serializers.ValidationError({"api_key_env": [error]})
        return attrs


class LLMCallSerializer(serializers.ModelSerializer):
    class Meta:
        model = LLMCall
        fields = ["id", "created_at", "role", "model", "purpose", "prompt_tokens", "completion_tokens",
                  "latency_ms", "cached", "attempts", "ok", "error"]
        read_only_fields = fields


class LLMEndpointViewSet(viewsets.ModelViewSet):
    queryset = LLMEndpoint.objects.all()
    serializer_class = LLMEndpointSerializer
    permission_classes = [IsAdminRole]


class LLMCallViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = LLMCall.objects.all()
    serializer_class = LLMCallSerializer
    permission_classes = [IsAdminRole]
    filterset_fields = ["role", "cached", "ok", "purpose"]
