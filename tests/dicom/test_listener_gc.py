"""The listener forces no full garbage collection while it serves (pynetdicom's server
runs gc.collect() every 60 associations, 17-22 ms of the whole heap each time), and
what an association leaves behind is garbage Python's own collector frees, not a
leak."""

import gc
import time
import weakref

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification


def test_seventy_associations_force_no_collection_and_leave_only_garbage(
    dicom_server, dicom_port, monkeypatch
):
    forced = []
    collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *args: forced.append(args) or 0)
    finished = weakref.WeakSet()
    dicom_server.bind(evt.EVT_RELEASED, lambda event: finished.add(event.assoc))

    ae = AE(ae_title="ECHOSCU")
    ae.add_requested_context(Verification)
    for _ in range(70):
        assoc = ae.associate("127.0.0.1", dicom_port, ae_title="RIS")
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    deadline = time.monotonic() + 10
    while dicom_server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)

    assert forced == []
    assert len(finished) > 0  # the handler saw the associations end
    monkeypatch.setattr(gc, "collect", collect)
    gc.collect()
    assert len(finished) == 0  # only garbage: freed by a collection, none kept alive
