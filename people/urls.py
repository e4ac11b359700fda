from django.urls import path

from people import views

app_name = "people"

urlpatterns = [
    path("", views.person_list, name="person-list"),
    path("invite/", views.person_invite, name="person-invite"),
    path("<int:pk>/", views.person_detail, name="person-detail"),
    path("<int:pk>/edit/", views.person_edit, name="person-edit"),
    path("<int:pk>/deactivate/", views.person_deactivate, name="person-deactivate"),
    path("<int:pk>/reactivate/", views.person_reactivate, name="person-reactivate"),
    path("<int:pk>/invitation/", views.person_resend, name="person-resend"),
    path("units/", views.unit_list, name="unit-list"),
    path("units/new/", views.unit_create, name="unit-create"),
    path("units/<int:pk>/edit/", views.unit_edit, name="unit-edit"),
    path("join/<str:token>/", views.join, name="join"),
]
