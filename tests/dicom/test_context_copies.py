"""The listener's presentation contexts, copied for every association, are copied
cheaply and still independently (worklist/dicom/context_copies.py)."""

import copy
import inspect

from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom.transport import RequestHandler

from worklist.dicom import context_copies, listener  # noqa: F401 - installs the copies


def test_a_copied_context_shares_its_immutable_uids():
    contexts = listener.build_ae(ae_title="RIS").supported_contexts
    copied = copy.deepcopy(contexts)
    assert copied[0].abstract_syntax is contexts[0].abstract_syntax
    assert copied[0].transfer_syntax[0] is contexts[0].transfer_syntax[0]
    assert copied[0].transfer_syntax is not contexts[0].transfer_syntax
    assert isinstance(copied[0].transfer_syntax[0], UID)
    assert ExplicitVRLittleEndian in copied[0].transfer_syntax


def test_each_association_still_gets_contexts_of_its_own():
    contexts = listener.build_ae(ae_title="RIS").supported_contexts
    copied = copy.deepcopy(contexts)
    assert copied == contexts
    assert [c.transfer_syntax for c in copied] == [c.transfer_syntax for c in contexts]
    assert [c.context_id for c in copied] == [c.context_id for c in contexts]
    assert all(a is not b for a, b in zip(copied, contexts, strict=True))
    # What one association negotiates stays its own.
    copied[0].scp_role = True
    copied[0].context_id = 7
    copied[0].add_transfer_syntax("1.2.3.4")
    assert contexts[0].scp_role is None
    assert contexts[0].context_id is None
    assert "1.2.3.4" not in contexts[0].transfer_syntax


def test_pynetdicom_copies_the_contexts_this_way():
    # Guard: if pynetdicom stops deep-copying the server's contexts per association,
    # context_copies.py has nothing left to do and should go.
    assert "deepcopy(self.server.contexts)" in inspect.getsource(RequestHandler._create_association)
