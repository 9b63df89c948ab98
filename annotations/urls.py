from django.urls import path

from annotations import views

urlpatterns = [
    path("", views.dataset_list, name="home"),
    path("datasets/<int:dataset_id>/samples/", views.sample_list, name="sample-list"),
    path("samples/<int:sample_id>/image/", views.sample_image, name="sample-image"),
    path("samples/<int:sample_id>/thumbnail/", views.sample_thumbnail, name="sample-thumbnail"),
    path("datasets/upload/", views.upload, name="dataset-upload"),
]
