"""/manage/: accounts and LLM endpoints (admin role)."""

from django.urls import path

from webapp.manage import views

urlpatterns = [
    path("", views.index, name="manage"),
    path("users/", views.users, name="manage-users"),
    path("users/<int:user_id>/", views.user_detail, name="manage-user"),
    path("users/<int:user_id>/roles/", views.user_roles, name="manage-user-roles"),
    path("users/<int:user_id>/active/", views.user_active, name="manage-user-active"),
    path("users/<int:user_id>/password/", views.user_password, name="manage-user-password"),
    path("users/<int:user_id>/unlock/", views.user_unlock, name="manage-user-unlock"),
    path("endpoints/", views.endpoints, name="manage-endpoints"),
    path("endpoints/<str:role>/", views.endpoint_edit, name="manage-endpoint"),
    path("endpoints/<str:role>/test/", views.endpoint_test, name="manage-endpoint-test"),
    path("endpoints/<str:role>/remove/", views.endpoint_remove, name="manage-endpoint-remove"),
]
