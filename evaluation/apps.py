from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp import reaper

        # Every worker's reaper loop hands stalled evaluation runs back to the queue.
        reaper.register("evaluation-runs", "evaluation.services.reap_stalled_runs")
