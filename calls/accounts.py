"""Account pages that Django's auth views do not provide: sign-up and the profile."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from calls.forms import BlockForm, ProfileForm, SignupForm
from calls.models import Block, Profile


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@require_http_methods(["GET", "POST"])
def profile(request):
    """Display name, who may call you, blocked users and the API token."""
    profile = Profile.for_user(request.user)
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
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
        messages.success(request, "New API token created. Copy it now; treat it like a password.")
    else:
        messages.success(request, "API token revoked.")
    return redirect("profile")


@require_POST
def block(request):
    form = BlockForm(request.POST, user=request.user)
    if form.is_valid():
        Block.objects.get_or_create(user=request.user, blocked=form.cleaned_data["username"])
        messages.success(request, f"{form.cleaned_data['username'].get_username()} can no longer call you.")
    else:
        messages.error(request, " ".join(form.errors.get("username", ["Could not block."])))
    return redirect("profile")


@require_POST
def unblock(request, block_id: int):
    Block.objects.filter(user=request.user, pk=block_id).delete()
    messages.success(request, "Unblocked.")
    return redirect("profile")
