from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from annotations import views as annotation_views
from annotations.api import DatasetViewSet, SampleViewSet
from annotations.drafting_api import DraftingRunProgressView
from evaluation.api import EvalRunViewSet
from training.api import CheckpointViewSet, SnapshotViewSet, TrainingRunViewSet
from annotations.review_api import (DraftingRunViewSet, FieldFrequencyViewSet, ReviewSampleViewSet,
                                    RevisionViewSet)
from webapp import auth_views, views
from webapp.api import LLMCallViewSet, LLMEndpointViewSet

# No ".json" suffix routes: DRF passes the suffix as a ``format`` argument that custom actions do not take (a
# 500). The format is chosen by the Accept header or ``?format=json`` instead.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("samples", SampleViewSet, basename="sample")
router.register("review/samples", ReviewSampleViewSet, basename="review-sample")
router.register("review/revisions", RevisionViewSet, basename="review-revision")
router.register("drafting-runs", DraftingRunViewSet, basename="drafting-run")
router.register("field-frequency", FieldFrequencyViewSet, basename="field-frequency")
router.register("llm-endpoints", LLMEndpointViewSet, basename="llm-endpoint")
router.register("llm-calls", LLMCallViewSet, basename="llm-call")
router.register("eval-runs", EvalRunViewSet, basename="eval-run")
router.register("training/runs", TrainingRunViewSet, basename="api-training-run")
router.register("training/snapshots", SnapshotViewSet, basename="api-training-snapshot")
router.register("training/checkpoints", CheckpointViewSet, basename="api-training-checkpoint")

# Issue 12, part F: an /api/ address no route matches answers JSON like the rest of the API (pages keep HTML).
handler404 = "webapp.api_errors.not_found"

urlpatterns = [
    # Login and tokens (issue 12): throttled logins; a logout (the app's or the admin's) also revokes API tokens.
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/logout/", auth_views.LogoutView.as_view(), name="admin-logout"),  # before admin/, to win
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", auth_views.ObtainTokenView.as_view(), name="api-token"),
    path("api/auth/logout/", auth_views.LogoutTokenView.as_view(), name="api-logout"),
    path("api/auth/logout-all/", auth_views.LogoutAllView.as_view(), name="api-logout-all"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/drafting-runs/<int:pk>/progress/", DraftingRunProgressView.as_view(), name="drafting-run-progress"),
    path("api/", include(router.urls)),
    path("evaluation/", include("evaluation.urls")),
    path("training/", include("training.urls")),
    path("review/runs/<int:run_id>/", annotation_views.drafting_run, name="drafting-run"),  # its samples, live
    path("review/", include("annotations.review_urls")),
    path("manage/", include("webapp.manage.urls")),  # accounts and LLM endpoints (admin role)
    path("", include("annotations.urls")),
]
