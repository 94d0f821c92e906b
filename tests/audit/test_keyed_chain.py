"""The chain is keyed with the audit key, which the database never sees: whoever
rewrites an event in the database and recomputes the hashes after it, without the
key, still breaks the chain; keys rotate, and each event names the key that chained
it."""

import pytest

from audit import chain, conf, services
from audit.codes import Action

from .conftest import rechain

pytestmark = pytest.mark.django_db

KEY_A = "first-audit-key-of-the-department-0001"
KEY_B = "second-audit-key-of-the-department-0002"


@pytest.fixture
def trail():
    return [services.record(Action.PATIENT_RECORD, patients=[(f"P{i}", "H")]) for i in range(5)]


def rename_victim(victim):
    def edit(event):
        if event.seq == victim.seq:
            event.username = "nobody"

    return edit


def test_every_event_names_the_key_that_chained_it(trail):
    assert {event.key_id for event in trail} == {conf.current_key().id}
    assert len(conf.current_key().id) == 16
    assert conf.current_key().id not in conf.get("AUDIT_KEY")


def test_a_rewrite_rehashed_without_the_key_is_found(trail):
    """The superuser's forgery that passed the unkeyed chain: edit an event and
    recompute every hash after it with plain SHA-256."""
    victim = trail[2]
    rechain(rename_victim(victim), hash_with=lambda event: None, start=victim.seq)

    result = chain.verify()

    assert not result.intact
    assert result.broken_seq == victim.seq
    assert "no longer matches its hash" in result.problem


def test_a_rewrite_claiming_to_predate_the_key_is_found(trail):
    victim = trail[2]

    def unkeyed(event):
        rename_victim(victim)(event)
        event.key_id = ""

    rechain(unkeyed, hash_with=lambda event: None, start=victim.seq)

    result = chain.verify()

    assert result.broken_seq == victim.seq
    assert "chained without a key" in result.problem


def test_a_rewrite_with_a_key_of_ones_own_is_found(trail):
    victim = trail[2]
    own = conf._make_key("a-key-the-forger-made-up-for-this-0000")

    def forged(event):
        rename_victim(victim)(event)
        event.key_id = own.id

    rechain(forged, hash_with=lambda event: own, start=victim.seq)

    result = chain.verify()

    assert result.broken_seq == victim.seq
    assert f"key {own.id}, which is not configured" in result.problem


def test_a_retired_key_still_verifies_what_it_chained(settings):
    suite_key = settings.AUDIT_KEY
    settings.AUDIT_KEY, settings.AUDIT_KEYS_RETIRED = KEY_A, [suite_key]
    old = services.record(Action.PATIENT_RECORD, patients=[("P1", "H")])
    settings.AUDIT_KEY, settings.AUDIT_KEYS_RETIRED = KEY_B, [suite_key, KEY_A]
    new = services.record(Action.PATIENT_RECORD, patients=[("P1", "H")])

    assert old.key_id != new.key_id
    assert new.key_id == conf.current_key().id
    result = chain.verify()
    assert result.intact, result.summary()

    settings.AUDIT_KEYS_RETIRED = [suite_key]
    result = chain.verify()
    assert not result.intact
    assert f"key {old.key_id}, which is not configured" in result.problem


class TestAChainBegunWithoutAKey:
    """A trail an earlier version chained with plain SHA-256 up to #L, keyed after."""

    @pytest.fixture
    def last_unkeyed(self, trail):
        boundary = trail[2].seq

        def before_the_upgrade(event):
            if event.seq <= boundary:
                event.key_id = ""

        rechain(before_the_upgrade)
        return boundary

    def test_it_verifies_up_to_the_configured_point(self, settings, last_unkeyed):
        settings.AUDIT_UNKEYED_THROUGH = last_unkeyed
        result = chain.verify()
        assert result.intact, result.summary()

    def test_without_the_setting_verify_says_which_value_to_set(self, settings, last_unkeyed):
        settings.AUDIT_UNKEYED_THROUGH = 0
        result = chain.verify()
        assert not result.intact
        assert f"RIS_AUDIT_UNKEYED_THROUGH={last_unkeyed}" in result.problem

    def test_unkeyed_events_after_the_point_are_refused(self, settings, last_unkeyed):
        settings.AUDIT_UNKEYED_THROUGH = last_unkeyed - 1
        result = chain.verify()
        assert result.broken_seq == last_unkeyed
        assert "chained without a key" in result.problem

    def test_a_point_past_the_first_keyed_event_is_refused(self, settings, last_unkeyed):
        settings.AUDIT_UNKEYED_THROUGH = last_unkeyed + 1
        result = chain.verify()
        assert result.broken_seq == last_unkeyed + 1
        assert f"set it to {last_unkeyed}" in result.problem
