from django.apps import AppConfig


class WebappConfig(AppConfig):
    name = "webapp"
    verbose_name = "SkinFlow Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp import reaper

        # The access audit trail's retention prune (at most hourly; SKINFLOW_AUDIT_RETENTION_DAYS).
        reaper.register("audit-retention", "webapp.audit.reap_expired")
