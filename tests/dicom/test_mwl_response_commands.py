"""Pending C-FIND responses send a command set built and encoded once per query's
values (worklist/dicom/answers.py, KeptCommand): the same bytes pynetdicom makes."""

from io import BytesIO

from pynetdicom import dimse_messages, dsutils
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.sop_class import ModalityWorklistInformationFind

from worklist.dicom import answers


def _response(status: int, message_id: int = 7, identifier: bytes | None = b"\x08\x00\x50\x00"):
    primitive = C_FIND()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = ModalityWorklistInformationFind
    primitive.Status = status
    primitive.Identifier = BytesIO(identifier) if identifier is not None else None
    return primitive


def _pdus(primitive) -> list:
    message = dimse_messages.C_FIND_RSP()
    message.primitive_to_message(primitive)
    return [
        pdata.presentation_data_value_list
        for pdata in message.encode_msg(context_id=1, max_pdu_length=16382)
    ]


def _pynetdicoms_own(primitive) -> list:
    message = dimse_messages.C_FIND_RSP()
    dimse_messages.DIMSEMessage.primitive_to_message(message, primitive)
    encoded = dsutils.encode(message.command_set, True, True)
    data = message.data_set.getvalue() if message.data_set is not None else b""
    return [[(1, b"\x03" + encoded)]] + ([[(1, b"\x02" + data)]] if data else [])


def test_installed_with_this_pynetdicom():
    assert answers.KEPT_COMMANDS


def test_a_pending_response_is_sent_as_pynetdicom_would():
    for status in answers.PENDING:
        first, again = _pdus(_response(status)), _pdus(_response(status))
        assert first == again == _pynetdicoms_own(_response(status))


def test_each_query_gets_its_own_message_id_and_status():
    one, other = _pdus(_response(0xFF00, message_id=7)), _pdus(_response(0xFF00, message_id=8))
    assert one != other
    assert other == _pynetdicoms_own(_response(0xFF00, message_id=8))
    assert _pdus(_response(0xFF01)) != one


def test_final_and_failure_responses_are_built_as_before():
    final = _response(0x0000, identifier=None)
    assert _pdus(final) == _pynetdicoms_own(final)
    failure = _response(0xA900, identifier=None)
    failure.ErrorComment = "Identifier does not match SOP class"
    assert _pdus(failure) == _pynetdicoms_own(failure)
    message = dimse_messages.C_FIND_RSP()
    message.primitive_to_message(failure)
    assert not isinstance(message.command_set, answers.KeptCommand)
    assert message.command_set.ErrorComment == "Identifier does not match SOP class"


def test_a_c_find_response_makes_its_empty_command_set_only_when_read():
    """With this pynetdicom the saving is installed (a new pynetdicom whose message
    constructor does more than we copy keeps its own, and this test says so), and a
    command set read before it is set holds what pynetdicom's constructor makes."""
    assert isinstance(
        vars(dimse_messages.C_FIND_RSP).get("command_set"), answers._CommandSetOnFirstRead
    )
    message = dimse_messages.C_FIND_RSP()
    assert "command_set" not in vars(message)
    made = {element.keyword for element in message.command_set}
    assert made == set(dimse_messages._COMMAND_SET_KEYWORDS["C-FIND-RSP"])
    assert all(element.value in (None, "") for element in message.command_set)
