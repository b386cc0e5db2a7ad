"""The dry run: every line checked before anything is sent; unreadable files refused clearly."""

from __future__ import annotations

import html
from datetime import datetime

import pytest

from mapping.models import MeterMapping
from onboarding.models import Draft
from tests.dashboard.factories import make_meter
from tests.onboarding.helpers import HEADER, csv_bytes, row, upload, xlsx_bytes

pytestmark = pytest.mark.django_db


def test_each_line_gets_a_verdict_and_nothing_is_sent_to_leap(operator_client, leap_sim):
    make_meter(partner_reference="onb-00004")
    rows = [
        row(1),
        row(2, **{"customer.postal_code": "9410"}),  # the spec's pattern refuses it
        row(3, customer_classification="HOUSE"),  # not in the enum
        row(4),  # a meter already has this reference
        row(5, **{"device.device_serial_number": ""}),  # required for a DEVICE meter
        row(6, partner_reference="onb-00001"),  # given twice in the file
        row(7, customer_id="", **{"customer.street_1": "Market St"}),  # two warnings
    ]
    response = upload(operator_client, csv_bytes(rows))
    assert response.status_code == 302
    draft = Draft.objects.get()
    assert draft.counts == {"lines": 7, "ok": 1, "warning": 2, "error": 4}
    verdicts = {r.line: (r.verdict, dict(r.problems)) for r in draft.rows.all()}
    assert verdicts[2][0] == "ok"
    assert "format" in verdicts[3][1]["customer.postal_code"]
    assert "HOUSE" in verdicts[4][1]["customer_classification"]
    assert verdicts[5][0] == "warning" and "DUPLICATE" in verdicts[5][1]["partner_reference"]
    assert verdicts[6][1] == {"device.device_serial_number": "is required for a DEVICE meter"}
    assert "line 2" in verdicts[7][1]["partner_reference"]
    assert verdicts[8][0] == "warning" and set(verdicts[8][1]) == {
        "customer.street_1",
        "customer_id",
    }
    assert leap_sim.requests == []  # a dry run never speaks to Leap

    page = operator_client.get(response["Location"])
    assert page.status_code == 200 and "Send 3 assets to Leap" in page.content.decode()
    errors = operator_client.get(response["Location"] + "?verdict=error", HTTP_HX_REQUEST="true")
    assert errors.content.decode().count('class="verdict-error"') == 4


def test_the_chosen_programs_add_their_required_fields(operator_client):
    header = HEADER + ["device.battery_power_capacity_kw"]
    response = upload(operator_client, csv_bytes([row(1)], header=header), programs=["CEC-DSGS"])
    assert response.status_code == 400  # the header lacks the program's columns
    text = response.content.decode()
    assert "missing column(s)" in text and "site.number_of_devices" in text
    assert "device.battery_energy_capacity_kwh" in text

    header += ["device.battery_energy_capacity_kwh", "device.permission_to_operate_date",
               "site.number_of_devices", "device.install_date"]  # fmt: skip
    lines = [
        row(1, **{"device.battery_power_capacity_kw": "5", "device.battery_energy_capacity_kwh": "13.5",
                  "device.permission_to_operate_date": "2022-01-10", "site.number_of_devices": "1",
                  "device.install_date": "2022-01-03"}),
        row(2, **{"device.battery_power_capacity_kw": "5", "device.battery_energy_capacity_kwh": "13.5",
                  "device.permission_to_operate_date": "2024-01-10", "site.number_of_devices": "1",
                  "device.install_date": "2024-01-03"}),
    ]  # fmt: skip
    response = upload(operator_client, csv_bytes(lines, header=header), programs=["CEC-DSGS"])
    draft = Draft.objects.exclude(status="refused").get()
    problems = {r.line: dict(r.problems) for r in draft.rows.all()}
    assert problems[2] == {}
    # Installed after 2023-06-30: the SGIP question must be answered (CAISO).
    assert "caiso.is_receiving_sgip_funding" in problems[3]


def test_programs_of_another_region_are_refused(operator_client):
    response = upload(operator_client, csv_bytes([row(1)]), programs=["NYISO-SCR"])
    assert response.status_code == 400
    assert "NYISO-SCR is not a program of CAISO" in response.content.decode()
    assert not Draft.objects.exists()


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        ("customer_id,partner_reference\nc,Café".encode("cp1252"), "a.csv", "not UTF-8"),
        ("x".encode("utf-16"), "a.csv", "UTF-16"),
        (b"customer_id;partner_reference\n", "a.csv", "separated by semicolons"),
        (b"customer_id,partner_reference,postcode\n", "a.csv", "unknown column(s) 'postcode'"),
        (b"customer_id,partner_reference\nc1,ref-1\n", "a.csv", "missing column(s) customer_classification"),
        (b"PK\x03\x04 not really a zip", "a.xlsx", "not a readable XLSX"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.xls", "Excel 97-2003"),
    ],
)  # fmt: skip
def test_an_unreadable_file_is_refused_clearly_and_kept(operator_client, content, name, expected):
    response = upload(operator_client, content, name=name)
    assert response.status_code == 400
    assert expected in html.unescape(response.content.decode())
    draft = Draft.objects.get()
    assert draft.status == "refused" and bytes(draft.raw) == content
    assert expected in draft.file_error


def test_an_xlsx_reads_like_the_csv_numbers_and_dates_included(operator_client):
    header = HEADER + ["device.install_date"]
    lines = [row(1, **{"customer.postal_code": 94103, "device.install_date": datetime(2022, 5, 1)})]
    response = upload(operator_client, xlsx_bytes(lines, header=header), name="assets.xlsx")
    assert response.status_code == 302
    r = Draft.objects.get().rows.get()
    assert r.verdict == "ok", r.problems
    assert r.asset["customer"]["postal_code"] == "94103"
    assert r.asset["device"]["install_date"] == "2022-05-01"


def test_viewers_cannot_upload(viewer_client):
    assert upload(viewer_client, csv_bytes([row(1)])).status_code == 403
    assert viewer_client.get("/onboarding/").status_code == 200


def test_the_template_names_the_columns_the_programs_need(operator_client):
    response = operator_client.get(
        "/onboarding/template.csv",
        {"region": "NYISO", "meter_type": "UTILITY_METER", "programs": ["PSEGLI-CSRP"]},
    )
    header = response.content.decode().splitlines()[0].split(",")
    assert response.status_code == 200 and header[:3] == ["customer_id", "site_id", "label"]
    assert {"nyiso.company_type", "nyiso.cbl_method", "utility.utility_name"} <= set(header)
    wrong = operator_client.get(
        "/onboarding/template.csv", {"region": "NYISO", "programs": ["ELRP"]}
    )
    assert wrong.status_code == 400 and "ELRP is not a program of NYISO" in wrong.content.decode()


def test_starting_from_the_mapping_prefills_sites_and_addresses(operator_client):
    meter = make_meter(
        street_1="7 Oak Ave",
        city="Fresno",
        postal_code="93701",
        customer_classification="RESIDENTIAL",
    )
    MeterMapping.objects.create(meter=meter, customer_id="cust-9", site_id="site-9", label="Barn")
    response = operator_client.post(
        "/onboarding/from-mapping.csv",
        {"region": "CAISO", "meter_type": "DEVICE", "customers": "cust-9, cust-unknown"},
    )
    lines = response.content.decode().splitlines()
    assert response.status_code == 200 and len(lines) == 2
    values = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert values["customer_id"] == "cust-9" and values["site_id"] == "site-9"
    assert values["partner_reference"] == "site-9-device"
    assert (values["customer.street_1"], values["customer.postal_code"]) == ("7 Oak Ave", "93701")
    # Completed with the device fields, the file goes through the dry run like any other.
    values.update({"device.device_type": "BATTERY", "device.device_serial_number": "SN1",
                   "load_types": "BATTERY_STORAGE"})  # fmt: skip
    content = (",".join(values) + "\n" + ",".join(values.values()) + "\n").encode()
    assert upload(operator_client, content).status_code == 302
    r = Draft.objects.get().rows.get()
    assert r.verdict == "ok", r.problems
