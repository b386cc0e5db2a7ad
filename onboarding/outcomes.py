"""Leap's asset outcomes in words, and what an operator can do about each."""

from __future__ import annotations

# status_detail.name (create-meters.yml) -> (what happened, what to do)
DETAILS: dict[str, tuple[str, str]] = {
    "METER_CREATED": ("Meter created", ""),
    "METER_UPDATED": ("Existing meter updated", ""),
    "DUPLICATE_REF_ID": (
        "Another meter already has this partner reference",
        "Use a new partner reference, or resubmit with “update existing meters” if that meter is "
        "this asset.",
    ),
    "DUPLICATE_METER": (
        "This meter already exists at Leap",
        "Find the existing meter (Meters page) and map it instead of creating it again.",
    ),
    "ADDRESS_INCOMPLETE": (
        "The address is incomplete",
        "Complete the street (house number), city, postal code and state.",
    ),
    "ADDRESS_NOT_FOUND": (
        "Leap could not find this address",
        "Check the postal code and spelling against the customer's bill.",
    ),
    "ADDRESS_NOT_REGISTERED_FOR_ESIID": (
        "No ESIID is registered for this address",
        "Check the ESIID (electric_service_account_number) and the service address.",
    ),
    "ACCOUNT_MISMATCH": (
        "The utility account does not match this customer or address",
        "Check the account number against the customer's bill.",
    ),
    "MULTIPLE_ACCOUNTS": (
        "Several utility accounts match this address",
        "Give the electric service account number so Leap can choose.",
    ),
    "UNSUPPORTED_ADDRESS": (
        "The address is outside the region's supported area",
        "Check the state and the transmission region.",
    ),
    "UNSUPPORTED_ZIP_CODE": ("The ZIP code is not supported", "Check the postal code."),
    "VALIDATION_ERROR": ("Some fields were refused", "Correct the highlighted fields."),
    "PROCESSING_ERROR": (
        "Leap failed while processing this asset",
        "Nothing is wrong with the data as far as Leap said: resubmit it.",
    ),
    "REJECTED": (
        "Leap refused the whole batch",
        "Correct the fields Leap named, then resubmit the failed assets.",
    ),
}
STATUS_WORDS = {
    "waiting": "Not sent yet",
    "PROCESSING": "Leap is processing",
    "COMPLETED": "Done",
    "FAILED": "Failed",
    "DUPLICATE": "Duplicate",
    "MULTIPLE_PARTNER_REFERENCE": "Partner reference used twice in the batch",
    "REJECTED": "Refused with its batch",
}


def in_words(status: str, detail_name: str) -> str:
    """One sentence: what happened to this asset."""
    if detail_name in DETAILS:
        return DETAILS[detail_name][0]
    words = STATUS_WORDS.get(status, status)
    return f"{words} ({detail_name})" if detail_name else words


def what_to_do(detail_name: str) -> str:
    """What an operator should fix, '' when nothing."""
    return DETAILS.get(detail_name, ("", ""))[1]
