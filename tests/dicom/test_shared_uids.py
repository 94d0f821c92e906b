"""The listener's presentation contexts, copied for every association, share their
UIDs instead of rebuilding them (worklist/dicom/shared_uids.py)."""

import copy
import inspect

from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom.transport import RequestHandler

from worklist.dicom import listener, shared_uids  # noqa: F401 - installs the sharing


def test_a_copied_uid_is_the_same_immutable_uid():
    uid = UID("1.2.840.10008.1.2.1")
    copied = copy.deepcopy(uid)
    assert copied is uid
    assert copied == ExplicitVRLittleEndian
    assert copied.is_little_endian and not copied.is_implicit_VR


def test_each_association_still_gets_contexts_of_its_own():
    contexts = listener.build_ae(ae_title="RIS").supported_contexts
    copied = copy.deepcopy(contexts)
    assert [c.abstract_syntax for c in copied] == [c.abstract_syntax for c in contexts]
    assert [c.transfer_syntax for c in copied] == [c.transfer_syntax for c in contexts]
    assert all(a is not b for a, b in zip(copied, contexts, strict=True))
    copied[0].scp_role = True
    assert contexts[0].scp_role is None


def test_pynetdicom_copies_the_contexts_this_way():
    # Guard: if pynetdicom stops deep-copying the server's contexts per association,
    # shared_uids.py has nothing left to do and should go.
    assert "deepcopy(self.server.contexts)" in inspect.getsource(RequestHandler._create_association)
