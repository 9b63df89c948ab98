from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp import reaper

        reaper.register("training", "training.services.reap_stale_runs")
