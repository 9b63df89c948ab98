import json
from typing import Iterator

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from webapp import audit
from webapp.csv_export import SafeWriter
from webapp.models import AccessEvent, LLMCall, LLMEndpoint
from webapp.manage import services as manage_services
from webapp.params import is_whole_number
from webapp.roles import ADMIN, connect_role_groups, has_role

# The admin group's permissions here are exactly webapp.roles.ADMIN_GROUP_PERMISSIONS, set after every migrate
# (connected here because this module is loaded by the admin's autodiscovery in every process, migrate's too).
connect_role_groups()


@admin.register(LLMEndpoint)
class LLMEndpointAdmin(admin.ModelAdmin):
    """Read-only for the admin group (it holds view_llmendpoint only): endpoints are edited, and tested, at
    /manage/endpoints/. A superuser may still edit here; the change is in the audit trail like the page's."""

    list_display = ("role", "model", "base_url", "api_key_env", "max_concurrency", "requests_per_minute", "enabled")
    list_editable = ("enabled",)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit.record(request, manage_services.ENDPOINT_SAVE, obj, role=obj.role, base_url=obj.base_url,
                     model=obj.model, api_key_env=obj.api_key_env, enabled=obj.enabled)

    def delete_model(self, request, obj) -> None:
        role = obj.role
        audit.record(request, manage_services.ENDPOINT_DELETE, obj, role=role)
        super().delete_model(request, obj)


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "role", "model", "purpose", "prompt_tokens", "completion_tokens",
                    "latency_ms", "cached", "attempts", "ok")
    list_filter = ("role", "cached", "ok")
    readonly_fields = [f.name for f in LLMCall._meta.fields]


# --- Access audit trail (issue 12, part 5) ----------------------------------------------------------------


class SampleIdFilter(admin.SimpleListFilter):
    """A text box in the filter sidebar: the events of one sample ("who viewed this patient photo")."""

    title = "sample id"
    parameter_name = "sample"
    template = "admin/webapp/accessevent/input_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().lstrip("#")
        if not value:
            return queryset
        if not is_whole_number(value):
            messages.error(request, f"Sample id must be a whole number such as 42, not {value!r}.")
            return queryset.none()
        return queryset.filter(sample_id=int(value))

    def choices(self, changelist):
        # One "choice": the form, carrying the page's other filters as hidden fields so they stay applied.
        hidden = [(k, v) for k, values in changelist.filter_params.items() if k != self.parameter_name
                  for v in values]
        yield {"value": (self.value() or ""), "parameter_name": self.parameter_name, "hidden": hidden,
               "clear_url": changelist.get_query_string(remove=[self.parameter_name])}


class ActionFilter(admin.SimpleListFilter):
    """The action filter: the model's actions and the administration pages' (webapp/manage/services.py), so
    "who changed which account" is one click even before those are listed in AccessEvent.Action."""

    title = "action"
    parameter_name = "action__exact"

    def lookups(self, request, model_admin):
        known = dict(AccessEvent.Action.choices)
        return [*known.items(), *((k, v) for k, v in manage_services.ACTIONS.items() if k not in known)]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class _Pipe:
    """A file-like sink that hands back what the CSV writer wrote, so rows can be streamed."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, text: str) -> None:
        self.chunks.append(text)

    def take(self) -> str:
        out, self.chunks = "".join(self.chunks), []
        return out


CSV_COLUMNS = ("created_at", "user_id", "username", "action", "object_type", "object_id", "sample_id", "channel",
               "ip", "user_agent", "method", "path", "detail")


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: nobody adds, changes or deletes events here (the model refuses it too)."""

    list_display = ("created_at", "username", "action", "object_type", "object_id", "sample_id", "channel", "ip")
    list_filter = (ActionFilter, "username", "channel", SampleIdFilter)
    date_hierarchy = "created_at"
    # "=" on the id columns: sample 4 must not match 42 or 14. Usernames and addresses by part.
    search_fields = ("=sample_id", "=object_id", "username", "ip")
    search_help_text = "Sample id, object id, username or IP address."
    readonly_fields = [f.name for f in AccessEvent._meta.fields]
    list_per_page = 100
    show_full_result_count = False  # a COUNT(*) over years of events on every page is slow

    def has_view_permission(self, request, obj=None) -> bool:
        return bool(request.user.is_active and request.user.is_staff and has_role(request.user, ADMIN))

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_csv), name="webapp_accessevent_export")
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> HttpResponse:
        """The changelist's current filters and search, as CSV, streamed (the table grows for years)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters are not valid; open the audit page, choose the filters "
                                          "there and use its Download CSV link.", content_type="text/plain")
        events = changelist.get_queryset(request)
        audit.record(request, AccessEvent.Action.AUDIT_EXPORT, query=request.GET.urlencode()[:1000])
        pipe = _Pipe()
        writer = SafeWriter(pipe)

        def rows() -> Iterator[str]:
            writer.writerow(CSV_COLUMNS)
            yield pipe.take()
            for n, event in enumerate(events.iterator(chunk_size=2000), start=1):
                writer.writerow([event.created_at.isoformat(), event.user_id or "", event.username, event.action,
                                 event.object_type, event.object_id, event.sample_id or "", event.channel,
                                 event.ip or "", event.user_agent, event.method, event.path,
                                 json.dumps(event.detail, sort_keys=True) if event.detail else ""])
                if n % 500 == 0:
                    yield pipe.take()
            yield pipe.take()

        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="access-events-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
