from django.contrib import admin

from webapp.models import LLMCall, LLMEndpoint


@admin.register(LLMEndpoint)
class LLMEndpointAdmin(admin.ModelAdmin):
    list_display = ("role", "model", "base_url", "api_key_env", "max_concurrency", "requests_per_minute", "enabled")
    list_editable = ("enabled",)


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "role", "model", "purpose", "prompt_tokens", "completion_tokens",
                    "latency_ms", "cached", "attempts", "ok")
    list_filter = ("role", "cached", "ok")
    readonly_fields = [f.name for f in LLMCall._meta.fields]
