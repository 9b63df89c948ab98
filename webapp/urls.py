from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from annotations.api import DatasetViewSet, SampleViewSet
from evaluation.api import EvalRunViewSet
from training.api import CheckpointViewSet, SnapshotViewSet, TrainingRunViewSet
from annotations.review_api import (DraftingRunViewSet, FieldFrequencyViewSet, ReviewSampleViewSet,
                                    RevisionViewSet)
from webapp import views
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

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="webapp/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(router.urls)),
    path("evaluation/", include("evaluation.urls")),
    path("training/", include("training.urls")),
    path("review/", include("annotations.review_urls")),
    path("", include("annotations.urls")),
]
