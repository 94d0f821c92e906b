"""No patient data in the logs beyond identifiers: representative flows (the UI's
pages, the REST API with its errors, a worklist query over DICOM, refusals) run on
the demo department with every log record captured, at the configured levels and
with the RIS's own loggers at DEBUG; the log must not name a demo patient or give a
birth date."""

import logging
import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import audit.context
from tests.dicom.conftest import find, mwl_query
from tests.ui.conftest import role_groups  # noqa: F401  (fixture)
from worklist import demo
from worklist.dicom import listener
from worklist.models import Order, Patient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

OWN_LOGGERS = ["worklist", "audit", "export", "ris"]


@pytest.fixture
def department(settings, role_groups):  # noqa: F811
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.RIS_DICOM_STRICT_AE = True
    with audit.context.system("loaddemo"):
        demo.load(patients=12, days_before=1, days_after=2, fill=0.5, seed=7, password="demo")
    return list(Patient.objects.all())


@pytest.fixture
def log(caplog):
    """Every record, formatted as the console handler writes it (traceback included)."""
    levels = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    yield caplog
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def patient_data(patients) -> list[re.Pattern]:
    """Names (each component, whole words) and birth dates in the forms a log might
    carry them: ISO, DICOM, day first."""
    patterns = set()
    for patient in patients:
        for part in re.split(r"[\^ ]", patient.patient_name):
            if len(part) >= 3:
                patterns.add(rf"\b{re.escape(part)}\b")
        born = patient.patient_birth_date
        for form in ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%d/%m/%Y"):
            patterns.add(re.escape(born.strftime(form)))
    return [re.compile(p, re.IGNORECASE) for p in sorted(patterns)]


def ui_flows(patient, order):
    admin = Client()
    admin.login(username="admin", password="demo")
    family, given = patient.patient_name.split("^")[:2]
    admin.post("/patients/", {"q": family})
    admin.get("/patients/", {"q": given})
    admin.get(f"/patients/{patient.pk}/")
    admin.get(f"/orders/{order.pk}/")
    admin.get("/orders/", {"q": order.accession_number})
    admin.get("/calendar/")
    admin.get("/board/")
    admin.get("/patients/999999/")  # 404
    admin.post("/patients/new/", {"family_name": family, "given_name": given})  # invalid
    admin.get("/audit/report/", {"patient_id": patient.patient_id, "issuer": "DEMO"})
    technologist = Client()
    technologist.login(username="technologist", password="demo")
    technologist.get("/patients/new/")  # 403
    Client().post("/login/", {"username": patient.patient_name, "password": "wrong"})


def api_flows(patient):
    user = Patient._meta.apps.get_model("auth", "User").objects.get(username="admin")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    family = patient.patient_name.split("^")[0]
    api.get("/api/patients/", {"patient_name": f"{family}*"})
    api.get(f"/api/patients/{patient.pk}/")
    demographics = {
        "patient_id": patient.patient_id,
        "issuer_of_patient_id": patient.issuer_of_patient_id,
        "patient_name": patient.patient_name,
        "patient_birth_date": patient.patient_birth_date.isoformat(),
        "patient_sex": patient.patient_sex,
    }
    step = {
        "modality": "CT",
        "scheduled_station_ae_title": "CT1",
        "scheduled_procedure_step_start_datetime": "2031-01-06T09:00:00+01:00",
        "scheduled_procedure_step_duration_minutes": 15,
    }
    order = {"patient": demographics, "scheduled_procedure_steps": [step]}
    api.post("/api/orders/", order, format="json")  # booked
    api.post("/api/orders/", order, format="json")  # the slot is taken: 409
    changed = {**demographics, "patient_birth_date": "1901-02-03"}
    api.post("/api/orders/", {**order, "patient": changed}, format="json")  # 409
    bad = {**demographics, "patient_birth_date": "not a date"}
    api.post("/api/orders/", {**order, "patient": bad}, format="json")  # 400
    api.patch(f"/api/patients/{patient.pk}/", {"patient_sex": "X?"}, format="json")  # 400
    APIClient().get(f"/api/patients/{patient.pk}/")  # 401


def dicom_flows(patient):
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    try:
        port = server.server_address[1]
        family = patient.patient_name.split("^")[0]
        query = mwl_query(PatientName=f"{family}*", PatientBirthDate="", PatientID="")
        find(port, query, calling_ae="CT1")
        find(port, mwl_query(PatientName=f"{family}*", sps={"Modality": "CT"}))
        # Refused: the birth date in a form that is no DICOM date.
        born = patient.patient_birth_date.isoformat()
        find(port, mwl_query(PatientName=f"{family}*", PatientBirthDate=born))
    finally:
        listener.stop(server)


def test_the_logs_name_no_patient(department, log):
    order = Order.objects.select_related("patient").first()
    patient = order.patient
    ui_flows(patient, order)
    api_flows(patient)
    dicom_flows(patient)
    text = "\n".join(log.handler.format(record) for record in log.records)
    assert len(log.records) > 5, "the flows logged nothing: the capture is broken"
    leaks = sorted(
        {match.group(0) for pattern in patient_data(department) for match in pattern.finditer(text)}
    )
    assert leaks == [], f"patient data in the log: {leaks}\n{text}"
