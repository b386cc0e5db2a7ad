"""Forms of the alerts pages, the notification preferences and the outreach editor."""

from __future__ import annotations

from urllib.parse import urlparse
from zoneinfo import available_timezones

from django import forms

from alerts.models import Alert, NotificationPreference


def _zones() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(available_timezones()) if "/" in z or z == "UTC"]


class PreferenceForm(forms.ModelForm):
    """One person's notification preferences."""

    kinds = forms.MultipleChoiceField(
        choices=Alert.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    chat_webhook_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Chat webhook URL"
    )
    time_zone = forms.ChoiceField(choices=_zones, initial="UTC")
    digest_hour = forms.TypedChoiceField(
        choices=[(h, f"{h:02d}:00") for h in range(24)], coerce=int, initial=8
    )

    class Meta:
        model = NotificationPreference
        fields = [
            "email_enabled", "email", "chat_enabled", "chat_webhook_url", "kinds", "mode",
            "digest_hour", "time_zone", "quiet_start", "quiet_end",
        ]  # fmt: skip
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean(self) -> dict:
        data = super().clean()
        if data.get("chat_enabled") and not data.get("chat_webhook_url"):
            self.add_error("chat_webhook_url", "Give the chat's incoming webhook URL.")
        if data.get("chat_webhook_url", "").startswith("http://") and not self._local(
            data["chat_webhook_url"]
        ):
            self.add_error("chat_webhook_url", "Use an https:// webhook URL.")
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error("quiet_end", "Give both the start and the end of the quiet hours.")
        return data

    @staticmethod
    def _local(url: str) -> bool:
        return urlparse(url).hostname in {"127.0.0.1", "localhost", "::1"}


class ComposeForm(forms.Form):
    """The customer email as the operator finally wants it."""

    to = forms.CharField(max_length=254)
    subject = forms.CharField(max_length=300)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), max_length=20000)


class TemplateForm(forms.Form):
    """A reason code's email template (fields checked by ReasonCode.clean)."""

    email_subject = forms.CharField(max_length=200, required=False)
    email_body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}), required=False, max_length=20000
    )
    meter = forms.CharField(
        required=False, max_length=100, help_text="Meter id or partner reference to preview with"
    )
