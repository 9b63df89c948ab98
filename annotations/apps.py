from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp import reaper

        reaper.register("drafting", "annotations.drafting_services.reap_drafting")
