"""Forms for accounts, profiles and rooms."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from calls.models import Profile, Room


class SignupForm(UserCreationForm):
    """Username, e-mail and a password checked by Django's validators."""

    email = forms.EmailField(required=True, help_text="For password resets; never shown to others.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail address already exists.")
        return email


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ("display_name", "calls_from")
        labels = {"display_name": "Display name", "calls_from": "Who may call you"}
        help_texts = {"display_name": "Shown to others in calls; your username when empty."}


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ("name",)
        widgets = {"name": forms.TextInput(attrs={"placeholder": "Room name", "maxlength": 120})}

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
            raise forms.ValidationError("No user with that username.")
        if other.pk == self.user.pk:
            raise forms.ValidationError("You cannot block yourself.")
        return other
