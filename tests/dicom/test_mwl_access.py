"""Who may query the worklist and what each caller sees: a station's own AE title
sees that station's steps from anywhere, a known modality what it is granted from
its allowed addresses, an unknown AE nothing (refused at association when strict)."""

import logging

import pytest
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from tests.factories import book_step, future_day, local, station
from worklist.models import Modality, Station
from worklist.services.stations import modality_save

from .conftest import associate, find, mwl_query, values

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future


@pytest.fixture
def two_rooms(dicom_port):
    station("CT1", "CT")
    station("CT2", "CT")
    book_step(ae_title="CT1", patient_name="Room^One")
    book_step(ae_title="CT2", patient_name="Room^Two")
    return dicom_port


def known(ae_title, **fields):
    stations = [
        Station.objects.get(scheduled_station_ae_title=t) for t in fields.pop("stations", [])
    ]
    return modality_save(modality=Modality(), ae_title=ae_title, stations=stations, **fields)


def patients(port, calling_ae, **keys):
    return values(
        find(port, mwl_query(PatientName="", sps=keys), calling_ae=calling_ae), "PatientName"
    )


def test_a_station_sees_only_its_own_steps(two_rooms):
    assert patients(two_rooms, "CT1") == ["Room^One"]
    assert patients(two_rooms, "CT2") == ["Room^Two"]


def test_asking_for_another_station_finds_nothing(two_rooms):
    assert patients(two_rooms, "CT1", ScheduledStationAETitle="CT2") == []


def test_a_known_modality_sees_the_stations_it_is_granted(two_rooms):
    known("CTVIEW", stations=["CT2"])
    assert patients(two_rooms, "CTVIEW") == ["Room^Two"]


def test_a_known_modality_with_the_wider_scope_sees_every_station(two_rooms):
    known("BROKER", sees_all_stations=True)
    assert patients(two_rooms, "BROKER") == ["Room^One", "Room^Two"]


def test_a_station_that_is_also_a_known_modality_sees_both_grants(two_rooms):
    known("CT1", stations=["CT2"])
    assert patients(two_rooms, "CT1") == ["Room^One", "Room^Two"]


def test_an_unknown_calling_ae_is_rejected_at_association(two_rooms, caplog):
    with caplog.at_level(logging.WARNING, logger="worklist.dicom.mwl"):
        assoc = associate(two_rooms, calling_ae="STRANGER")
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    # rejected-permanent, by the service user, calling AE title not recognized
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 3)
    assert any("STRANGER" in r.getMessage() for r in caplog.records)


def test_an_unknown_calling_ae_may_still_echo(two_rooms):
    assoc = associate(two_rooms, calling_ae="STRANGER", contexts=[Verification])
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_an_unknown_ae_proposing_echo_and_worklist_is_rejected(two_rooms):
    assoc = associate(
        two_rooms, calling_ae="STRANGER", contexts=[Verification, ModalityWorklistInformationFind]
    )
    assert assoc.is_rejected


def test_without_strict_checking_an_unknown_ae_sees_every_step(two_rooms, settings):
    settings.RIS_DICOM_STRICT_AE = False
    assert patients(two_rooms, "STRANGER") == ["Room^One", "Room^Two"]


def test_strict_checking_is_the_default_outside_debug():
    from django.conf import settings

    assert settings.RIS_DICOM_STRICT_AE is (not settings.DEBUG)


def test_a_known_modality_from_an_address_not_allowed_is_rejected(two_rooms, settings):
    settings.RIS_DICOM_STRICT_AE = False  # an address rule is never waived
    known("CTVIEW", stations=["CT2"], allowed_addresses="10.0.0.0/8")
    assert associate(two_rooms, calling_ae="CTVIEW").is_rejected


def test_a_known_modality_from_an_allowed_network_is_accepted(two_rooms):
    known("CTVIEW", stations=["CT2"], allowed_addresses="10.0.0.0/8, 127.0.0.0/24")
    assert patients(two_rooms, "CTVIEW") == ["Room^Two"]


def test_a_station_ae_from_any_address_keeps_its_own_steps(two_rooms):
    known("CT1", stations=["CT2"], allowed_addresses="10.1.2.3")
    assert patients(two_rooms, "CT1") == ["Room^One"]  # the station's grant only


def test_an_inactive_known_modality_is_rejected(two_rooms):
    known("CTVIEW", stations=["CT2"], active=False)
    assert associate(two_rooms, calling_ae="CTVIEW").is_rejected


def test_an_inactive_station_is_no_longer_a_known_caller(two_rooms):
    Station.objects.filter(scheduled_station_ae_title="CT2").update(active=False)
    assert associate(two_rooms, calling_ae="CT2").is_rejected


def test_a_step_offered_to_a_further_ae_title_is_seen_by_that_station(two_rooms):
    station("CT3", "CT")
    book_step(
        ae_title="CT1",
        start=local(DAY, 10),
        patient_name="Shared^Step",
        step={"additional_station_ae_titles": "CT3"},
    )
    assert patients(two_rooms, "CT3") == ["Shared^Step"]


def test_a_grant_changed_between_two_associations_applies_to_the_next_one(two_rooms):
    """The calling-AE check runs SQL compiled once per AE title (worklist/compiled.py)
    but reads the grant afresh for every association."""
    modality = known("CTVIEW", stations=["CT2"])
    assert patients(two_rooms, "CTVIEW") == ["Room^Two"]
    modality_save(
        modality=modality, stations=[Station.objects.get(scheduled_station_ae_title="CT1")]
    )
    assert patients(two_rooms, "CTVIEW") == ["Room^One"]
    modality_save(modality=modality, sees_all_stations=True)
    assert patients(two_rooms, "CTVIEW") == ["Room^One", "Room^Two"]
    modality_save(modality=modality, active=False)
    assert associate(two_rooms, calling_ae="CTVIEW").is_rejected


def test_a_station_booked_between_two_queries_is_in_the_second_answer(two_rooms):
    """The same query asked twice runs the SQL compiled the first time, on the rows
    as they are now."""
    assert patients(two_rooms, "CT1") == ["Room^One"]
    book_step(ae_title="CT1", start=local(DAY, 11), patient_name="Room^Later")
    assert patients(two_rooms, "CT1") == ["Room^One", "Room^Later"]
