"""Our own catalogue: reason codes and the customer email templates they carry."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models

if TYPE_CHECKING:
    from meters.models.meter import Meter
    from meters.models.programs import RequiredAction

# --- catalogue -----------------------------------------------------------------------------------


class _SafeFormat(dict):
    """str.format_map mapping that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# The fields a customer email template may use: Meter.customer_context() and the action's text.
TEMPLATE_FIELDS = (
    "meter_id", "partner_reference", "end_customer_name", "end_customer_company_name",
    "end_customer_email", "street_1", "city", "postal_code", "state_or_province_code",
    "utility_name", "electric_service_account_number", "action_description",
)  # fmt: skip


def template_problems(text: str) -> list[str]:
    """Why a customer email template cannot be used (empty when it can)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"malformed placeholder ({exc}); write {{{{ and }}}} for literal braces"]
    problems = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            problems.append(
                f"unknown field {{{name}}}: the fields are {', '.join(TEMPLATE_FIELDS)}"
            )
        elif spec or conversion:
            problems.append(f"{{{name}}} must be written without a format or conversion")
    return problems


class ReasonCode(models.Model):
    """Our catalogue of Leap's action codes and action types: what they mean, what to do."""

    class Kind(models.TextChoices):
        ACTION_CODE = "action_code"  # e.g. AUTH_0001
        ACTION_TYPE = "action_type"  # e.g. IS_AUTHORIZED

    class Actor(models.TextChoices):
        PARTNER = "partner"
        CUSTOMER = "customer"  # the partner has to reach out to the end customer
        LEAP = "leap"
        UNKNOWN = "unknown"

    code = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACTION_CODE)
    title = models.CharField(max_length=200, blank=True)
    who_acts = models.CharField(max_length=16, choices=Actor.choices, default=Actor.UNKNOWN)
    guidance = models.TextField(blank=True)
    email_subject = models.CharField(max_length=200, blank=True)
    email_body = models.TextField(
        blank=True,
        help_text="Placeholders: {end_customer_name}, {partner_reference}, {street_1}, {city}, "
        "{utility_name}, {electric_service_account_number}, {meter_id}, {action_description}.",
    )
    link = models.URLField(blank=True)
    # A code the sync met before anyone described it: shown as lacking guidance until edited.
    needs_guidance = models.BooleanField(default=False, db_index=True)
    example_description = models.TextField(blank=True)  # Leap's text when first seen
    first_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Describing a code (title and guidance) clears its lacking-guidance mark."""
        if self.needs_guidance and self.title and self.guidance:
            self.needs_guidance = False
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """A template referring to an unknown field is refused (the admin and the editor)."""
        errors = {
            name: problems
            for name in ("email_subject", "email_body")
            if (problems := template_problems(getattr(self, name)))
        }
        if errors:
            raise ValidationError(errors)

    def placeholders(self) -> set[str]:
        """The placeholder names the templates use."""
        names = set()
        for text in (self.email_subject, self.email_body):
            names |= {name for _, name, _, _ in string.Formatter().parse(text) if name}
        return names

    def render_email(self, meter: Meter, action: RequiredAction | None = None) -> tuple[str, str]:
        """(subject, body) for the meter's customer; unknown placeholders stay visible."""
        context = _SafeFormat(meter.customer_context())
        context["action_description"] = action.description if action else ""
        return self.email_subject.format_map(context), self.email_body.format_map(context)
