"""Forms of the administration pages. Passwords are checked by Django's validators with the project's
(webapp/passwords.py); an LLM endpoint by its model's validators, which ask the egress policy."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from webapp.manage import services
from webapp.models import LLMEndpoint, key_destination_error

_ROLE_LABELS = {"dermatologist": "dermatologist (reviews captions and verdicts)",
                "admin": "admin (datasets, endpoints, runs, accounts)", "both": "both"}
ROLE_CHOICES = [(name, _ROLE_LABELS.get(name, name)) for name in services.ROLE_SETS]
PASSWORD_CHOICES = [("generate", "generate one and show it once"), ("type", "I type it")]


class PasswordFields(forms.Form):
    """A generated password, or a typed one entered twice and checked by every password validator."""

    password_mode = forms.ChoiceField(choices=PASSWORD_CHOICES, initial="generate", widget=forms.RadioSelect,
                                      label="Password")
    password1 = forms.CharField(label="New password", required=False, strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Repeat it", required=False, strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def password_user(self) -> Any:
        """The account the password is for (its name feeds the similarity check); a new account's is unsaved."""
        if self.user is not None:
            return self.user
        return get_user_model()(username=self.cleaned_data.get("username", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or data.get("password_mode") != "type":
            return data
        first, second = data.get("password1") or "", data.get("password2") or ""
        if not first:
            self.add_error("password1", "Type the new password, or choose \"generate one\".")
        elif first != second:
            self.add_error("password2", "The two passwords differ; type the same one twice.")
        else:
            try:
                services.validate_new_password(first, self.password_user())
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data

    def chosen_password(self) -> tuple[str, bool]:
        """(password, generated?) once the form is valid."""
        if self.cleaned_data["password_mode"] == "type":
            return self.cleaned_data["password1"], False
        return services.generate_password(self.password_user()), True


class UserCreateForm(PasswordFields):
    username = forms.CharField(max_length=150, help_text="Letters, digits and @ . + - _ only.")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="dermatologist", widget=forms.RadioSelect)
    field_order = ["username", "role", "password_mode", "password1", "password2"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        User = get_user_model()
        User.username_validator(username)
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(f"An account named {username!r} exists already (names are compared without "
                                  "case); choose another name.")
        return username


class PasswordResetForm(PasswordFields):
    """A new password for an existing account (``user=`` it)."""


class RolesForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)


class EndpointForm(forms.ModelForm):
    """One role's endpoint. The model's validators check the base URL against the egress policy (resolving the
    host) and the key variable's name and destination; a refusal is shown on the field, with what to do."""

    class Meta:
        model = LLMEndpoint
        fields = ["base_url", "model", "api_key_env", "temperature", "timeout_s", "max_retries", "max_concurrency",
                  "requests_per_minute", "enabled"]
        labels = {"base_url": "Base URL", "api_key_env": "Key variable (its NAME, never the key)",
                  "timeout_s": "Timeout (s)", "max_retries": "Retries", "max_concurrency": "Concurrent requests",
                  "requests_per_minute": "Requests per minute"}
        help_texts = {"enabled": "Unticked: the row is kept but the SKINFLOW_<ROLE>_* variables apply."}
        widgets = {"base_url": forms.TextInput(attrs={"size": 50, "placeholder": "https://api.openai.com/v1"}),
                   "model": forms.TextInput(attrs={"size": 40}),
                   "api_key_env": forms.TextInput(attrs={"size": 30, "placeholder": "OPENAI_API_KEY"})}

    def clean_base_url(self) -> str:
        return self.cleaned_data["base_url"].strip()

    def clean_api_key_env(self) -> str:
        return self.cleaned_data["api_key_env"].strip()

    def _post_clean(self) -> None:
        super()._post_clean()
        # The model's clean() asks where the key may go even when the URL or the variable's name was refused
        # already; its advice ("tie DATABASE_URL to this host") would then contradict the field's error. Only
        # the field errors are shown until those are fixed.
        if not (self.has_error("base_url") or self.has_error("api_key_env")):
            return
        refused = key_destination_error(str(self.data.get("base_url", "")).strip(),
                                        str(self.data.get("api_key_env", "")).strip())
        errors = self._errors.get(NON_FIELD_ERRORS)
        if not refused or not errors:
            return
        kept = [error for error in errors.as_data() if refused not in error.messages]
        if kept:
            self._errors[NON_FIELD_ERRORS] = self.error_class(kept, error_class="nonfield")
        else:
            del self._errors[NON_FIELD_ERRORS]
