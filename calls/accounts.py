"""Account pages that Django's auth views do not provide: sign-up and the profile."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from calls.forms import BlockForm, ProfileForm, SignupForm, ThrottledAuthenticationForm
from calls.models import Block, Profile
from calls.throttles import KeyThrottle


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome, %(name)s.") % {"name": user.get_username()})
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login with failed attempts limited per account and per address (429 past the limit)."""

    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, sending at most a few mails per address and per client an hour.

    Requests are counted whether or not an account has the address, so the refusal says
    nothing about which addresses exist.
    """

    def form_valid(self, form):
        limits = [
            KeyThrottle("password_reset", form.cleaned_data["email"]),
            KeyThrottle("password_reset_address", self.request.META.get("REMOTE_ADDR", "")),
        ]
        if any(limit.exceeded() for limit in limits):
            form.add_error(None, _("Too many reset requests. Check your mailbox, or try again later."))
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(max(limit.retry_after() for limit in limits))
            return response
        for limit in limits:
            limit.record()
        return super().form_valid(form)


@require_http_methods(["GET", "POST"])
def profile(request):
    """Display name, who may call you, blocked users and the API token."""
    profile = Profile.for_user(request.user)
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        # Say it in the language just chosen (an empty choice: the browser's).
        translation.activate(profile.language or translation.get_language_from_request(request))
        messages.success(request, _("Profile saved."))
        return redirect("profile")
    return render(
        request,
        "calls/profile.html",
        {
            "form": form,
            "block_form": BlockForm(user=request.user),
            "blocks": Block.objects.filter(user=request.user).select_related("blocked"),
            "token": Token.objects.filter(user=request.user).first(),
        },
    )


@require_POST
def token(request):
    """Create (or replace) or revoke the API token for non-browser clients."""
    Token.objects.filter(user=request.user).delete()
    if request.POST.get("action") == "create":
        Token.objects.create(user=request.user)
        messages.success(request, _("New API token created. Copy it now; treat it like a password."))
    else:
        messages.success(request, _("API token revoked."))
    return redirect("profile")


@require_POST
def block(request):
    form = BlockForm(request.POST, user=request.user)
    if form.is_valid():
        Block.objects.get_or_create(user=request.user, blocked=form.cleaned_data["username"])
        blocked = form.cleaned_data["username"].get_username()
        messages.success(request, _("%(name)s can no longer call you.") % {"name": blocked})
    else:
        messages.error(request, " ".join(form.errors.get("username", [_("Could not block.")])))
    return redirect("profile")


@require_POST
def unblock(request, block_id: int):
    Block.objects.filter(user=request.user, pk=block_id).delete()
    messages.success(request, _("Unblocked."))
    return redirect("profile")
