"""Site URLs: pages, accounts, health and the REST API."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from calls import accounts, health, views

public = login_not_required

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/new/", views.room_create, name="room-create"),
    path("rooms/<str:room_id>/lock/", views.room_lock, name="room-lock"),
    path("r/<str:room_id>/", views.room, name="room"),
    path("calls/", views.call_list, name="call-list"),
    path("sw.js", views.service_worker, name="service-worker"),
    # accounts
    path("signup/", accounts.signup, name="signup"),
    path("profile/", accounts.profile, name="profile"),
    path("profile/token/", accounts.token, name="profile-token"),
    path("profile/block/", accounts.block, name="profile-block"),
    path("profile/unblock/<int:block_id>/", accounts.unblock, name="profile-unblock"),
    path("login/", public(accounts.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", public(accounts.PasswordResetView.as_view()), name="password_reset"),
    path("password/reset/sent/", public(auth_views.PasswordResetDoneView.as_view()), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        public(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        public(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
    # health and API
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", include("calls.api_urls")),
]
