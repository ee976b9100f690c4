"""Forms for accounts, profiles and rooms."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext_lazy as _

from calls.models import Profile, Room
from calls.throttles import KeyThrottle


class SignupForm(UserCreationForm):
    """Username, e-mail and a password checked by Django's validators."""

    email = forms.EmailField(
        required=True, label=_("Email"), help_text=_("For password resets; never shown to others.")
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail address already exists."))
        return email


class SignInThrottleMixin:
    """Refuses a sign-in for an account or a client address with too many recent failures.

    The refusal comes before the password is checked (nothing to learn from it, no hashing
    to pay for); only failed attempts are counted, so a user who signs in now and then
    is never refused. For Django's authentication forms (the site's and the admin's).
    """

    throttled_message = _("Too many failed sign-ins. Wait a while and try again, or reset your password.")
    throttled = False

    def clean(self):
        address = self.request.META.get("REMOTE_ADDR", "") if self.request is not None else ""
        limits = [KeyThrottle("login", self.cleaned_data.get("username") or ""), KeyThrottle("login_address", address)]
        if any(limit.exceeded() for limit in limits):
            self.throttled = True
            raise forms.ValidationError(self.throttled_message, code="throttled")
        try:
            return super().clean()
        except forms.ValidationError as error:
            if error.code == "invalid_login":
                for limit in limits:
                    limit.record()
            raise


class ThrottledAuthenticationForm(SignInThrottleMixin, AuthenticationForm):
    """The site's sign-in form."""


class ThrottledAdminAuthenticationForm(SignInThrottleMixin, AdminAuthenticationForm):
    """The admin's sign-in form, counted against the same limits as the site's."""


class ProfileForm(forms.ModelForm):
    """What the profile page lets a user change; `theme` is the site's appearance for them."""

    # The languages are named in their own language (a German speaker looks for "Deutsch").
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Browser's language")), *settings.LANGUAGES],
        required=False,
        help_text=_("The language of these pages and of calls; the browser's preference when not chosen."),
    )

    class Meta:
        model = Profile
        fields = ("display_name", "calls_from", "theme", "language")
        labels = {"display_name": _("Display name"), "calls_from": _("Who may call you"), "theme": _("Appearance")}
        help_texts = {
            "display_name": _("Shown to others in calls; your username when empty."),
            "theme": _("Light or dark pages; “Same as the system” follows your device's setting."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["theme"].required = False  # a client that does not send it keeps the system's

    def clean_theme(self) -> str:
        return self.cleaned_data.get("theme") or Profile.Theme.SYSTEM


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ("name",)
        widgets = {"name": forms.TextInput(attrs={"placeholder": _("Room name"), "maxlength": 120})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.max_peers = settings.ROOM_MAX_PEERS


class BlockForm(forms.Form):
    username = forms.CharField(max_length=150)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_username(self):
        other = get_user_model().objects.filter(username=self.cleaned_data["username"]).first()
        if other is None:
            raise forms.ValidationError(_("No user with that username."))
        if other.pk == self.user.pk:
            raise forms.ValidationError(_("You cannot block yourself."))
        return other
