"""DCMTK against the RIS: findscu queries our listener (plain and over TLS), with
DCMTK's own sample queries on DCMTK's sample worklist loaded through the REST API
(stations, patients) and the booking service (its 1995-96 orders, booked as of
then: the API refuses bookings in the past), and every answer is compared with what
DCMTK's wlmscpfs gives for the same files and the same query.

Where the two answers differ, the difference is listed in DIFFERENCES below with the
side the standard is on; anything else that differs fails the test.
"""

import subprocess
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from tests.conftest import ON_POSTGRES, require_peer
from worklist.dicom import listener
from worklist.services.booking import StepBooking, order_create

from .conftest import free_port, start_with_tls

EXAMPLES = Path("/usr/share/doc/dcmtk/examples")
SAMPLE_WORKLIST = EXAMPLES / "wlistdb" / "OFFIS"
SAMPLE_QUERIES = EXAMPLES / "wlistqry"
# DCMTK's sample books an US step in the MR room AA32 and CR steps in the CT rooms AB45
# and NN77; the RIS refuses a step in a room of another modality. Both servers get
# those steps in rooms of their own instead (the sample otherwise as shipped).
OWN_ROOMS = {
    "wklist4": ("AA32", "AA34"),
    "wklist5": ("AB45", "AB46"),
    "wklist3": ("NN77", "NN78"),
}
FINDSCU = "/usr/bin/findscu"
WLMSCPFS = "/usr/bin/wlmscpfs"
DUMP2DCM = "/usr/bin/dump2dcm"
CALLING_AE = "FINDSCU"
TZ = "Europe/Berlin"

# Where our answer differs from wlmscpfs's, and which side the standard is on.
DIFFERENCES = {
    "MedicalAlerts": (
        "The samples give one patient different Medical Alerts and Allergies per entry. "
        "Both belong to the Patient Medical module (PS3.3 C.2.4): one value per patient. "
        "We book the patient once and answer the patient's value for each of their "
        "steps; wlmscpfs repeats whatever each file says. Standard: our side."
    ),
    "Allergies": "See MedicalAlerts.",
    "ScheduledProcedureStepStatus": (
        "The sample files hold no status; every step we book is SCHEDULED and we say "
        "so. A data difference: both answer what they hold."
    ),
    "ScheduledProcedureStepEndDate": (
        "The sample files hold no end; a booked step has one (start + duration). "
        "A data difference: both answer what they hold."
    ),
    "ScheduledProcedureStepEndTime": "See ScheduledProcedureStepEndDate.",
    "ScheduledProtocolCodeSequence": (
        "A Scheduled Procedure Step Sequence asked for with an empty item asks for the "
        "whole item (PS3.4 C.2.2.2.6). wlmscpfs expands it to the attributes it "
        "supports, which leave out Scheduled Protocol Code Sequence; we return it "
        "(empty: the samples hold no protocol codes). Standard: our side."
    ),
    "RequestedProcedureCodeSequence": (
        "Asked for, but the samples hold no codes: we return the sequence empty, as "
        "every requested key comes back (PS3.4 K.2.2.1.2); wlmscpfs leaves it out. "
        "Standard: our side."
    ),
    "SpecificCharacterSet": (
        "We answer in UTF-8 and say so (ISO_IR 192); wlmscpfs by default names no "
        "character set (its -cs0). The sample values are ASCII, so both are right "
        "(PS3.3 C.12.1.1.2: the default repertoire needs no Specific Character Set)."
    ),
}

# Queries of our own on the same data, for the rules the samples leave untried.
OUR_QUERIES = {
    "patient_name_wildcard": {"PatientName": "VIV*", "sps": {}},
    "patient_name_lower_case": {"PatientName": "vivaldi^antonio", "sps": {}},
    "modality_single_value": {"PatientName": "", "sps": {"Modality": "CT"}},
    "station_ae_multi_valued": {"PatientName": "", "sps": {"ScheduledStationAETitle": "NN77"}},
    "station_ae_wildcard": {"PatientName": "", "sps": {"ScheduledStationAETitle": "A?3*"}},
    "date_range": {
        "PatientName": "",
        "sps": {"ScheduledProcedureStepStartDate": "19960101-19960430"},
    },
    "date_open_range": {"PatientName": "", "sps": {"ScheduledProcedureStepStartDate": "-19951231"}},
    "date_and_time_combined": {
        "PatientName": "",
        "sps": {
            "ScheduledProcedureStepStartDate": "19960103-19960406",
            "ScheduledProcedureStepStartTime": "1600-1630",
        },
    },
    "uid_list": {
        "StudyInstanceUID": ["1.2.276.0.7230010.3.2.101", "1.2.276.0.7230010.3.2.105"],
        "sps": {},
    },
    "patient_id_and_accession": {"PatientID": "HF", "AccessionNumber": "0000?", "sps": {}},
}

# Query names whose answers differ from wlmscpfs beyond DIFFERENCES, and why.
ANSWER_DIFFERENCES = {
    "station_ae_wildcard": (
        "AE is a wild card VR (PS3.4 C.2.2.2.4): A?3* finds AA32, AA33, AA34; wlmscpfs "
        "matches Scheduled Station AE Title by single value only and finds nothing. "
        "Standard: our side."
    ),
    "uid_list": (
        "Study Instance UID is an optional matching key (K.6.1.2); we apply List of UID "
        "matching (C.2.2.2.2), wlmscpfs does not match on it and answers every entry, "
        "without the 0xFF01 status that says so (K.2.2.1.1.2). Standard: our side."
    ),
    "patient_name_lower_case": (
        "Person names match case-insensitively here, as PS3.4 C.2.2.2.1 allows for PN; "
        "wlmscpfs matches them literally and finds nothing. Both conform; ours is what "
        "an operator typing a name expects."
    ),
}


@pytest.fixture(params=[1, 2], ids=["1 process", "2 processes"])
def dicom_server(request, transactional_db, mwl_settings):
    """Our worklist answered by the listener in this process, and by two listener
    processes (RIS_DICOM_PROCESSES) forked from it with its settings. Those reach the
    test database through connections of their own: on PostgreSQL; the embedded test
    database lives in this process's memory, where they cannot see it."""
    if request.param > 1 and not ON_POSTGRES:
        pytest.skip("two listener processes need the test database on PostgreSQL")
    server = listener.launch(count=request.param, host="127.0.0.1", port=0, tls_port=0)
    yield server
    listener.stop(server)


@pytest.fixture(scope="module")
def dcmtk_files(tmp_path_factory):
    """DCMTK's sample worklist as .wl files (for wlmscpfs and for loading) and its
    sample queries as DICOM files, converted with dump2dcm."""
    for path in (FINDSCU, WLMSCPFS, DUMP2DCM):
        require_peer(path, "dcmtk")
    if not SAMPLE_WORKLIST.is_dir():
        require_peer(str(SAMPLE_WORKLIST), "dcmtk")
    root = tmp_path_factory.mktemp("dcmtk")
    database = root / "db" / "OFFIS"
    database.mkdir(parents=True)
    (database / "lockfile").touch()
    for dump in sorted(SAMPLE_WORKLIST.glob("*.dump")):
        if dump.stem in OWN_ROOMS:
            dump = in_own_room(dump, root, *OWN_ROOMS[dump.stem])
        dump2dcm(dump, database / f"{dump.stem}.wl", "-g")
    queries = root / "queries"
    queries.mkdir()
    for dump in sorted(SAMPLE_QUERIES.glob("*.dump")):
        dump2dcm(dump, queries / f"{dump.stem}.dcm")
    for name, keys in OUR_QUERIES.items():
        identifier(keys).save_as(queries / f"{name}.dcm", enforce_file_format=True)
    return root


def in_own_room(dump: Path, folder: Path, room: str, own_room: str) -> Path:
    """A copy of the dump whose Scheduled Station AE Title names own_room for room."""
    lines = dump.read_text(encoding="latin-1").splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.lstrip().startswith("(0040,0001)"):
            lines[index] = line.replace(room, own_room)
    copy = folder / dump.name
    copy.write_text("".join(lines), encoding="latin-1")
    return copy


def dump2dcm(source: Path, target: Path, *options: str) -> None:
    subprocess.run([DUMP2DCM, "-q", *options, str(source), str(target)], check=True, timeout=30)


def identifier(keys: dict) -> Dataset:
    keys = dict(keys)
    sps = keys.pop("sps", None)
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword, value in sps.items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    ds.file_meta = Dataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    return ds


@pytest.fixture(scope="module")
def wlmscpfs(dcmtk_files):
    port = free_port()
    process = subprocess.Popen(
        [WLMSCPFS, "-dfp", str(dcmtk_files / "db"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    yield port
    process.terminate()
    process.wait(timeout=10)


def wait_for_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


# --- loading the samples through the booking API -------------------------------------


def load_sample_worklist(api, files: Path) -> None:
    """Every sample entry loaded as an integration would: the stations and each
    patient once (with the first entry's medical alerts and allergies) through the
    REST API, then one order per entry through the booking service, booked at the
    sample's own date. An entry's several Scheduled Station AE
    Titles are booked on a station named by the first, the others given as
    additional_station_ae_titles."""
    entries = [dcmread(path) for path in sorted((files / "db" / "OFFIS").glob("*.wl"))]
    zone = ZoneInfo(TZ)
    stations, patients = set(), set()
    for entry in entries:
        step = entry.ScheduledProcedureStepSequence[0]
        first, *others = ae_titles(step)
        if first not in stations:
            created = api.post(
                "/api/stations/",
                {"scheduled_station_ae_title": first, "modality": step.Modality},
                format="json",
            )
            assert created.status_code == 201, created.json()
            stations.add(first)
        if entry.PatientID not in patients:
            created = api.post(
                "/api/patients/",
                {
                    "patient_id": entry.PatientID,
                    "patient_name": str(entry.PatientName),
                    "patient_birth_date": as_date(entry.get("PatientBirthDate", "")),
                    "patient_sex": entry.get("PatientSex", ""),
                    "medical_alerts": entry.get("MedicalAlerts", ""),
                    "allergies": entry.get("Allergies", ""),
                },
                format="json",
            )
            assert created.status_code == 201, created.json()
            patients.add(entry.PatientID)
        start = datetime.strptime(
            step.ScheduledProcedureStepStartDate + step.ScheduledProcedureStepStartTime,
            "%Y%m%d%H%M%S",
        ).replace(tzinfo=zone)
        order_create(
            patient={
                "patient_id": entry.PatientID,
                "patient_name": str(entry.PatientName),
                "patient_birth_date": as_birth_date(entry.get("PatientBirthDate", "")),
                "patient_sex": entry.get("PatientSex", ""),
            },
            accession_number=entry.AccessionNumber,
            requesting_physician=str(entry.get("RequestingPhysician", "")),
            requested_procedure_id=entry.RequestedProcedureID,
            requested_procedure_description=entry.get("RequestedProcedureDescription", ""),
            requested_procedure_priority=entry.RequestedProcedurePriority,
            study_instance_uid=entry.StudyInstanceUID,
            steps=[
                StepBooking(
                    scheduled_station_ae_title=first,
                    start=start,
                    modality=step.Modality,
                    scheduled_procedure_step_id=step.ScheduledProcedureStepID,
                    details={
                        "additional_station_ae_titles": "\\".join(others),
                        "scheduled_station_name": step.get("ScheduledStationName", ""),
                        "scheduled_procedure_step_location": step.get(
                            "ScheduledProcedureStepLocation", ""
                        ),
                        "scheduled_performing_physician_name": str(
                            step.get("ScheduledPerformingPhysicianName", "")
                        ),
                        "scheduled_procedure_step_description": step.get(
                            "ScheduledProcedureStepDescription", ""
                        ),
                        "requested_contrast_agent": step.get("RequestedContrastAgent", ""),
                        "pre_medication": step.get("PreMedication", ""),
                        "comments_on_the_scheduled_procedure_step": step.get(
                            "CommentsOnTheScheduledProcedureStep", ""
                        ),
                    },
                )
            ],
            booked_at=start,  # the samples' 1990s worklist, booked back then
        )
    allowed = api.post(
        "/api/modalities/",
        {"ae_title": CALLING_AE, "description": "DCMTK findscu", "sees_all_stations": True},
        format="json",
    )
    assert allowed.status_code == 201, allowed.json()


def ae_titles(step: Dataset) -> list[str]:
    value = step.ScheduledStationAETitle
    return [value] if isinstance(value, str) else list(value)


def as_date(value: str) -> str | None:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if value else None


def as_birth_date(value: str) -> date | None:
    return date.fromisoformat(as_date(value)) if value else None


# --- asking and comparing -----------------------------------------------------------


def findscu(port: int, query: Path, out: Path, *, called_ae: str, tls: list[str] = ()) -> list:
    """The responses findscu receives, read back from the files it extracts."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    result = subprocess.run(
        [FINDSCU, "-W", *tls, "-aet", CALLING_AE, "-aec", called_ae, "-X", "-od", str(out)]
        + ["127.0.0.1", str(port), str(query)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def normalised(ds: Dataset, *, drop=()) -> dict:
    found = {}
    for element in ds:
        keyword = element.keyword or str(element.tag)
        if element.tag.group == 0x0002 or keyword in drop:
            continue
        if element.VR == "SQ":
            found[keyword] = sorted(
                (normalised(item, drop=drop) for item in element.value), key=repr
            )
        elif element.VM > 1:
            found[keyword] = "\\".join(str(v) for v in element.value)
        else:
            found[keyword] = "" if element.value is None else str(element.value)
    return found


def answer(responses, *, drop=()) -> list[dict]:
    return sorted((normalised(r, drop=drop) for r in responses), key=repr)


QUERY_NAMES = sorted(p.stem for p in SAMPLE_QUERIES.glob("*.dump")) + sorted(OUR_QUERIES)


@pytest.mark.parametrize("query_name", QUERY_NAMES)
def test_findscu_gets_what_wlmscpfs_gives_for_the_same_worklist(
    query_name, dcmtk_files, wlmscpfs, dicom_port, api, tmp_path, settings
):
    settings.TIME_ZONE = TZ
    load_sample_worklist(api, dcmtk_files)
    query = dcmtk_files / "queries" / f"{query_name}.dcm"

    ours = findscu(dicom_port, query, tmp_path / "ours", called_ae="RIS")
    theirs = findscu(wlmscpfs, query, tmp_path / "theirs", called_ae="OFFIS")

    if query_name in ANSWER_DIFFERENCES:
        assert answer(ours, drop=DIFFERENCES) != answer(theirs, drop=DIFFERENCES)
        return
    assert answer(ours, drop=DIFFERENCES) == answer(theirs, drop=DIFFERENCES)
    for response in ours:
        if "MedicalAlerts" in response:
            # the patient's own value, booked once (see DIFFERENCES)
            assert response.MedicalAlerts == patient_value(response.PatientID, "MedicalAlerts")


def patient_value(patient_id: str, keyword: str) -> str:
    from worklist.models import Patient

    field = {"MedicalAlerts": "medical_alerts", "Allergies": "allergies"}[keyword]
    return getattr(Patient.objects.get(patient_id=patient_id), field)


def test_the_listed_answer_differences_are_what_they_claim(
    dcmtk_files, wlmscpfs, dicom_port, api, tmp_path, settings
):
    """The documented answer differences checked for what they claim, and the
    combined date-time matching on which both agree."""
    settings.TIME_ZONE = TZ
    load_sample_worklist(api, dcmtk_files)
    queries = dcmtk_files / "queries"

    lower = findscu(
        dicom_port, queries / "patient_name_lower_case.dcm", tmp_path / "a", called_ae="RIS"
    )
    assert {str(r.PatientName) for r in lower} == {"VIVALDI^ANTONIO"}
    assert (
        findscu(
            wlmscpfs, queries / "patient_name_lower_case.dcm", tmp_path / "b", called_ae="OFFIS"
        )
        == []
    )

    ours = findscu(
        dicom_port, queries / "date_and_time_combined.dcm", tmp_path / "c", called_ae="RIS"
    )
    theirs = findscu(
        wlmscpfs, queries / "date_and_time_combined.dcm", tmp_path / "d", called_ae="OFFIS"
    )
    starts = lambda rs: sorted(  # noqa: E731
        r.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate
        + r.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime
        for r in rs
    )
    # One period from 3 January 16:00 to 6 April 16:30 (C.2.2.2.5.4), on which
    # wlmscpfs agrees: 3 January 16:57 and 23 January 13:55 lie inside it although
    # outside 16:00-16:30 of their day.
    assert starts(ours) == starts(theirs) == ["19960103165709", "19960123135558", "19960406160700"]

    ours = findscu(dicom_port, queries / "station_ae_wildcard.dcm", tmp_path / "e", called_ae="RIS")
    assert sorted(ae_titles(r.ScheduledProcedureStepSequence[0]) for r in ours) == [
        ["AA32", "AA33"],
        ["AA34"],  # the US step's own room (OWN_ROOMS)
    ]
    assert (
        findscu(wlmscpfs, queries / "station_ae_wildcard.dcm", tmp_path / "f", called_ae="OFFIS")
        == []
    )

    ours = findscu(dicom_port, queries / "uid_list.dcm", tmp_path / "g", called_ae="RIS")
    theirs = findscu(wlmscpfs, queries / "uid_list.dcm", tmp_path / "h", called_ae="OFFIS")
    assert sorted(r.StudyInstanceUID for r in ours) == [
        "1.2.276.0.7230010.3.2.101",
        "1.2.276.0.7230010.3.2.105",
    ]
    assert len(theirs) == 10


@pytest.fixture
def tls_listener(transactional_db, mwl_settings, tls_files):
    mwl_settings.RIS_DICOM_TLS_CERT = str(tls_files / "server.crt")
    mwl_settings.RIS_DICOM_TLS_KEY = str(tls_files / "server.key")
    mwl_settings.RIS_DICOM_TLS_CA = str(tls_files / "ca.crt")
    mwl_settings.RIS_DICOM_TLS_REQUIRE_CLIENT_CERT = True
    server = start_with_tls()
    yield listener.tls_server(server).server_address[1]
    listener.stop(server)


def test_findscu_over_mutual_tls_gets_the_worklist(
    tls_listener, tls_files, dcmtk_files, api, tmp_path, settings
):
    settings.TIME_ZONE = TZ
    load_sample_worklist(api, dcmtk_files)
    tls = [
        "+tls",
        str(tls_files / "client.key"),
        str(tls_files / "client.crt"),
        "+cf",
        str(tls_files / "ca.crt"),
    ]
    responses = findscu(
        tls_listener,
        dcmtk_files / "queries" / "wlistqry11.dcm",
        tmp_path / "tls",
        called_ae="RIS",
        tls=tls,
    )
    assert len(responses) == 10


def test_findscu_without_a_client_certificate_is_refused_when_mutual_tls_is_required(
    tls_listener, tls_files, dcmtk_files, tmp_path
):
    result = subprocess.run(
        [FINDSCU, "-W", "+tla", "+cf", str(tls_files / "ca.crt"), "-aet", CALLING_AE, "-aec", "RIS"]
        + ["127.0.0.1", str(tls_listener), str(dcmtk_files / "queries" / "wlistqry11.dcm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0


def test_findscu_plain_is_not_answered_on_the_tls_port(tls_listener, dcmtk_files, tmp_path):
    result = subprocess.run(
        [FINDSCU, "-W", "-to", "5", "-ta", "5", "-aet", CALLING_AE, "-aec", "RIS"]
        + ["127.0.0.1", str(tls_listener), str(dcmtk_files / "queries" / "wlistqry11.dcm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
