from django.urls import path

from annotations import review_views

urlpatterns = [
    path("", review_views.queue, name="review-queue"),
    path("next/", review_views.next_sample, name="review-next"),
    path("samples/<int:sample_id>/", review_views.review_sample, name="review-sample"),
    path("mine/", review_views.recent, name="review-recent"),
    path("mine/undo/", review_views.undo, name="review-undo"),
    path("samples/<int:sample_id>/reopen/", review_views.reopen, name="review-reopen"),
    path("runs/start/", review_views.start_run, name="drafting-run-start"),
    path("bulk-accept/", review_views.bulk_accept, name="review-bulk-accept"),
    path("audit/", review_views.draw_audit, name="review-audit"),
    path("fields/", review_views.field_stats, name="field-stats"),
]
