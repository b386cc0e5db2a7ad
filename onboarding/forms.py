"""Forms of the onboarding pages."""

from __future__ import annotations

from typing import Any

from django import forms

from leap import create_meters as cm
from onboarding import requirements

REGION_CHOICES = [(r, r) for r in cm.TRANSMISSION_REGIONS]
METER_TYPE_CHOICES = [(t, t.replace("_", " ").lower()) for t in cm.METER_TYPES]
PROGRAM_CHOICES = [(p, p) for p in requirements.ALL_PROGRAMS]


class ScopeForm(forms.Form):
    """What is being onboarded: region, meter type, programs (they decide the required fields)."""

    region = forms.ChoiceField(choices=REGION_CHOICES)
    meter_type = forms.ChoiceField(choices=METER_TYPE_CHOICES, initial="DEVICE")
    programs = forms.MultipleChoiceField(
        choices=PROGRAM_CHOICES, required=False, widget=forms.SelectMultiple(attrs={"size": 6})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        region, programs = data.get("region"), data.get("programs") or []
        if region:
            foreign = [p for p in programs if p not in requirements.PROGRAMS_BY_REGION[region]]
            if foreign:
                raise forms.ValidationError(
                    f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} not a program "
                    f"of {region}; {region}'s programs: "
                    + ", ".join(requirements.PROGRAMS_BY_REGION[region])
                )
        return data


class UploadForm(ScopeForm):
    """A CSV or XLSX file of assets."""

    file = forms.FileField()


class MappingStartForm(ScopeForm):
    """Start from our mapping: a template prefilled with the sites of some customers."""

    customers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text="Our customer ids, separated by commas, spaces or new lines.",
    )

    def clean_customers(self) -> list[str]:
        raw = self.cleaned_data["customers"]
        ids = [c for c in raw.replace(",", " ").split() if c]
        if not ids:
            raise forms.ValidationError("Give at least one customer id.")
        if len(ids) > 5000:
            raise forms.ValidationError("At most 5,000 customer ids at once.")
        return list(dict.fromkeys(ids))


class SubmitForm(forms.Form):
    """Confirm sending a checked draft."""

    update_existing = forms.BooleanField(
        required=False,
        label="Update meters that already hold these partner references (update_existing)",
    )


ROW_FILTERS = [
    ("", "every line"),
    ("ok", "ready"),
    ("warning", "with a warning"),
    ("error", "errors"),
]
ASSET_FILTERS = [
    ("", "every asset"),
    ("failed", "failed (all kinds)"),
    ("COMPLETED", "created or updated"),
    ("PROCESSING", "processing"),
    ("DUPLICATE", "duplicates"),
    ("REJECTED", "refused with the batch"),
]


class RowFilterForm(forms.Form):
    """Which lines of a draft to show."""

    verdict = forms.ChoiceField(choices=ROW_FILTERS, required=False)


class AssetFilterForm(forms.Form):
    """Which assets of a job to show."""

    status = forms.ChoiceField(choices=ASSET_FILTERS, required=False)
