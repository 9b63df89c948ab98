from django.apps import AppConfig


class WebappConfig(AppConfig):
    name = "webapp"
    verbose_name = "SkinFlow Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from webapp import egress, reaper

        # A malformed egress allowlist or base URL is reported at start, not as a 4xx/5xx on every request.
        checks.register(egress.check_settings)

        from webapp import tokens

        # A password change revokes the account's API tokens (webapp.tokens), whatever path changed it.
        tokens.connect_password_revocation()

        # The access audit trail's retention prune (at most hourly; SKINFLOW_AUDIT_RETENTION_DAYS).
        reaper.register("audit-retention", "webapp.audit.reap_expired")
