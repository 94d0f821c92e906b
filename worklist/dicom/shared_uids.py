"""UIDs shared, not copied, when pynetdicom copies the AE's presentation contexts.

pynetdicom gives every new association its own copy of the server's supported
contexts (``copy.deepcopy(server.contexts)`` in RequestHandler._create_association).
With every storage SOP class in every transfer syntax (store.py: 174 contexts, 6,306
transfer syntax UIDs) that copy re-creates each UID through pydicom's UID constructor
and its validation: about 50-80 ms of CPU per association on the bench machine, more
than everything else a worklist query, an MPPS pair or a C-STORE costs the listener.

A UID is an immutable str, so a copy of one can be the same object, as a plain str's
is. The contexts themselves (their roles, their lists) are still copied as before.
"""

from pydicom.uid import UID


def _same_uid(self, memo):
    return self


def install() -> None:
    if UID.__dict__.get("__deepcopy__") is not _same_uid:
        UID.__deepcopy__ = _same_uid


install()
