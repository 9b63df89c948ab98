"""REST API for the admin-editable LLM endpoints and the call log (admins only).

``GET /api/llm-endpoints/effective/`` lists what each role uses now and where it comes from (a row, the
variables, the default); ``POST /api/llm-endpoints/test/`` with ``{"role": ...}`` makes the same one real test
call as the endpoints page's "Test connection" button and answers the same shape (200 whether the endpoint
answered or not: ``ok`` says which; the exact error and what to do are in ``error`` and ``advice``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from webapp import audit
from webapp.llm import ROLES
from webapp.manage import selectors as manage_selectors
from webapp.manage import services as manage_services
from webapp.manage.connection import run_connection_test
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


class EffectiveEndpointSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    base_url = serializers.CharField()
    model = serializers.CharField()
    api_key_env = serializers.CharField(allow_blank=True)
    api_key_set = serializers.BooleanField(allow_null=True, help_text="Whether the key variable is set in the web "
                                           "server's environment; null when the endpoint names none.")
    source = serializers.ChoiceField(choices=["row", "variable", "default"])
    field_sources = serializers.DictField(child=serializers.CharField(), help_text="Per value: 'row', the variable it "
                                   "was read from, or 'default'.")
    row_id = serializers.IntegerField(allow_null=True)


class ConnectionTestRequestSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)


class ConnectionTestSerializer(serializers.Serializer):
    role = serializers.CharField()
    ok = serializers.BooleanField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    source = serializers.CharField()
    latency_ms = serializers.IntegerField()
    reply = serializers.CharField(allow_blank=True, help_text="The model's reply (whitespace folded, at most 500 "
                                  "characters); empty when the call failed.")
    reply_model = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True, help_text="The gateway's reason on failure: connection, "
                                   "timeout, egress_refused, missing_api_key, auth, not_found, http_<status>, ...")
    status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    advice = serializers.CharField(allow_blank=True)


class LLMEndpointViewSet(viewsets.ModelViewSet):
    queryset = LLMEndpoint.objects.all()
    serializer_class = LLMEndpointSerializer
    permission_classes = [IsAdminRole]

    def _record(self, action_name: str, endpoint: LLMEndpoint) -> None:
        audit.record(self.request, action_name, endpoint, role=endpoint.role, base_url=endpoint.base_url,
                     model=endpoint.model, api_key_env=endpoint.api_key_env, enabled=endpoint.enabled)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        self._record(manage_services.ENDPOINT_SAVE, serializer.save())

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        self._record(manage_services.ENDPOINT_SAVE, serializer.save())

    def perform_destroy(self, instance: LLMEndpoint) -> None:
        audit.record(self.request, manage_services.ENDPOINT_DELETE, instance, role=instance.role)
        instance.delete()

    @extend_schema(responses=EffectiveEndpointSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def effective(self, request: Request) -> Response:
        """What each role's calls use now, and where each value comes from."""
        rows = [{"role": r.role, "base_url": r.config.base_url, "model": r.config.model,
                 "api_key_env": r.config.api_key_env, "api_key_set": r.key_set, "source": r.effective.source,
                 "field_sources": r.effective.fields, "row_id": r.effective.row_id}
                for r in manage_selectors.endpoint_rows()]
        return Response(EffectiveEndpointSerializer(rows, many=True).data)

    @extend_schema(request=ConnectionTestRequestSerializer, responses=ConnectionTestSerializer)
    @action(detail=False, methods=["post"], serializer_class=ConnectionTestRequestSerializer, filter_backends=[])
    def test(self, request: Request) -> Response:
        """One real chat-completions call to the role's effective endpoint (no cache, no retries, <= 20 s)."""
        body = ConnectionTestRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        role = body.validated_data["role"]
        result = run_connection_test(role)
        audit.record(request, manage_services.ENDPOINT_TEST, LLMEndpoint.objects.filter(role=role).first(),
                     role=role, ok=result.ok, reason=result.reason, latency_ms=result.latency_ms)
        return Response(ConnectionTestSerializer(result.as_dict()).data)


class LLMCallViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = LLMCall.objects.all()
    serializer_class = LLMCallSerializer
    permission_classes = [IsAdminRole]
    filterset_fields = ["role", "cached", "ok", "purpose"]
