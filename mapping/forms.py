"""Forms of the mapping pages: the value rules themselves live in mapping.validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

from django import forms
from django.db.models import Q, QuerySet

from mapping.flags import FILTERS
from mapping.models import ImportRow, MappingChange
from mapping.validation import IDENTIFIER_MAX, LABEL_MAX, REASON_MAX


class MappingForm(forms.Form):
    """One meter's mapping plus the reason for the change (checked again by set_mapping)."""

    customer_id = forms.CharField(max_length=IDENTIFIER_MAX)
    site_id = forms.CharField(max_length=IDENTIFIER_MAX, required=False)
    label = forms.CharField(max_length=LABEL_MAX, required=False)
    reason = forms.CharField(max_length=REASON_MAX, help_text="Why; kept in the audit")


class ReasonForm(forms.Form):
    """Just a reason (removing a mapping, applying an import)."""

    reason = forms.CharField(max_length=REASON_MAX)


class UploadForm(forms.Form):
    """A mapping CSV."""

    file = forms.FileField(
        help_text="CSV, UTF-8, columns: meter_id,partner_reference,customer_id,site_id,label"
    )


class OverviewFilterForm(forms.Form):
    """Which meters the mapping overview lists."""

    flag = forms.ChoiceField(choices=[("", "All meters"), *FILTERS.items()], required=False)
    q = forms.CharField(required=False, label="Search", max_length=128)

    def search(self, meters: QuerySet) -> QuerySet:
        """Meter id prefix, partner_reference, customer, site or label."""
        q = self.cleaned_data.get("q", "").strip()
        if not q:
            return meters
        return meters.filter(_text_q(q, prefix="mapping__") | _meter_q(q))


def _meter_q(q: str) -> Q:
    try:
        return Q(pk=uuid.UUID(q))
    except ValueError:
        return Q(partner_reference__icontains=q)


def _text_q(q: str, *, prefix: str = "") -> Q:
    return (
        Q(**{f"{prefix}customer_id__icontains": q})
        | Q(**{f"{prefix}site_id__icontains": q})
        | Q(**{f"{prefix}label__icontains": q})
    )


class ImportRowFilterForm(forms.Form):
    """Which preview lines to show."""

    outcome = forms.ChoiceField(
        choices=[("", "All lines"), *ImportRow.Outcome.choices], required=False
    )


class AuditFilterForm(forms.Form):
    """Filters of the audit trail (page and CSV export)."""

    meter_id = forms.UUIDField(required=False)
    actor = forms.CharField(required=False, max_length=150)
    source = forms.ChoiceField(
        choices=[("", "Any source"), *MappingChange.Source.choices], required=False
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, label="Customer/site/reason", max_length=128)

    def apply(self, changes: QuerySet[MappingChange]) -> QuerySet[MappingChange]:
        """The changes matching the (valid) filters."""
        data = self.cleaned_data
        if data.get("meter_id"):
            changes = changes.filter(meter_id=data["meter_id"])
        if data.get("actor"):
            changes = changes.filter(actor_name__icontains=data["actor"])
        if data.get("source"):
            changes = changes.filter(source=data["source"])
        if data.get("since"):
            changes = changes.filter(at__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
        if data.get("until"):
            changes = changes.filter(at__lte=datetime.combine(data["until"], time.max, tzinfo=UTC))
        if q := data.get("q", "").strip():
            changes = changes.filter(
                Q(reason__icontains=q)
                | Q(before__customer_id=q)
                | Q(after__customer_id=q)
                | Q(before__site_id=q)
                | Q(after__site_id=q)
            )
        return changes
