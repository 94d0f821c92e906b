"""`manage.py audit export|forward`: the operator's side of exports and forwarding
(verify is in test_tamper.py, expire in test_retention.py)."""

import xml.etree.ElementTree as ET

import pytest
from django.core.management import CommandError, call_command

from audit import services
from audit.codes import Action

from .conftest import events_after, patients_of

pytestmark = pytest.mark.django_db


def test_export_writes_the_patients_events_as_dicom_audit_messages(tmp_path, mark):
    services.record(Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")])
    services.record(Action.PATIENT_RECORD, patients=[("OTHER", "")])
    output = tmp_path / "audit.xml"

    call_command("audit", "export", "--patient-id", "AV35674", "--output", str(output))

    root = ET.parse(output).getroot()  # noqa: S314 - our own file
    assert len(root.findall("AuditMessage")) == 1
    export = events_after(mark)[-1]
    assert (export.get_action_display(), export.channel) == ("Export", "command")
    assert patients_of(export) == [("AV35674", "HOSP")]


def test_export_refuses_a_time_without_offset():
    with pytest.raises(CommandError, match="offset"):
        call_command("audit", "export", "--since", "2026-01-01T00:00")


def test_forward_says_when_no_repository_is_set(settings):
    settings.AUDIT_SYSLOG_HOST = ""
    with pytest.raises(CommandError, match="RIS_AUDIT_SYSLOG_HOST"):
        call_command("audit", "forward")
