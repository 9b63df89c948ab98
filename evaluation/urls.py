from django.urls import path

from evaluation import views

urlpatterns = [
    path("", views.index, name="eval-index"),
    path("ablation/", views.ablation, name="eval-ablation"),
    path("leaderboard.csv", views.leaderboard_csv, name="eval-leaderboard-csv"),
    path("compare/", views.compare, name="eval-compare"),
    path("reward-validation/", views.reward_validation, name="eval-reward-validation"),
    path("reward-validation/start/", views.reward_validation_start, name="eval-reward-validation-start"),
    path("reward-validation/jobs/<int:job_id>/progress.json", views.reward_validation_job,
         name="eval-reward-validation-job"),
    path("attention/", views.attention, name="eval-attention"),
    path("attention/start/", views.attention_start, name="eval-attention-start"),
    path("attention/<int:analysis_id>/progress.json", views.attention_progress, name="eval-attention-progress"),
    path("attention/plot.svg", views.attention_plot, name="eval-attention-plot"),
    path("attention/<int:analysis_id>/maps/<int:sample_id>.png", views.attention_map, name="eval-attention-map"),
    path("runs/new/", views.run_new, name="eval-run-new"),
    path("runs/<int:run_id>/", views.run_detail, name="eval-run"),
    path("runs/<int:run_id>/progress.json", views.run_progress, name="eval-run-progress"),
    path("runs/<int:run_id>/resume/", views.run_resume, name="eval-run-resume"),
    path("runs/<int:run_id>/metrics.json", views.run_metrics_json, name="eval-run-metrics"),
    path("runs/<int:run_id>/predictions.csv", views.run_items_csv, name="eval-run-csv"),
    path("runs/<int:run_id>/overrules.json", views.run_overrules_json, name="eval-run-overrules"),
    path("runs/<int:run_id>/plots/<slug:kind>.svg", views.run_plot, name="eval-run-plot"),
    path("runs/<int:run_id>/samples/", views.sample_browser, name="eval-samples"),
    path("runs/<int:run_id>/safety-critical/", views.safety_gallery, name="eval-safety"),
    path("runs/<int:run_id>/confusions/", views.confusions, name="eval-confusions"),
    path("items/<int:item_id>/", views.item_detail, name="eval-item"),
    path("items/<int:item_id>/overrule/", views.item_overrule, name="eval-item-overrule"),
]
