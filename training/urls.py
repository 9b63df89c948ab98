from django.urls import path

from training import views

urlpatterns = [
    path("", views.run_list, name="training-index"),
    path("launch/", views.launch, name="training-launch"),
    path("compare/", views.compare, name="training-compare"),
    path("compare/chart.svg", views.compare_chart, name="training-compare-chart"),
    path("runs/<int:run_id>/", views.run_detail, name="training-run"),
    path("runs/<int:run_id>/chart.svg", views.run_chart, name="training-run-chart"),
    path("runs/<int:run_id>/log", views.run_log, name="training-run-log"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="training-run-cancel"),
    path("checkpoints/<int:checkpoint_id>/", views.checkpoint_detail, name="training-checkpoint"),
    path("checkpoints/<int:checkpoint_id>/download.zip", views.checkpoint_download, name="training-checkpoint-download"),
    path("checkpoints/<int:checkpoint_id>/evaluate/", views.checkpoint_evaluate, name="training-checkpoint-evaluate"),
]
