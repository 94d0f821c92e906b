"""Cheap copies of the listener's presentation contexts, one set per association.

pynetdicom gives every new association its own copy of the server's supported
contexts (``copy.deepcopy(server.contexts)`` in RequestHandler._create_association).
With every storage SOP class in every transfer syntax (store.py: 174 contexts, 6,306
transfer syntax UIDs) the generic deep copy re-created each UID through pydicom's UID
constructor and its validation: about 50-80 ms of CPU per association on the bench
machine, more than everything else a worklist query, an MPPS pair or a C-STORE cost
the listener.

A context's copy is a new PresentationContext with the same scalar attributes and
a list of transfer syntaxes of its own holding the same UIDs (immutable strs): nothing
one association negotiates reaches the server's contexts or another association's.
Only PresentationContext's copy changes; a UID deep-copied anywhere else is copied as
before.
"""

from pynetdicom.presentation import PresentationContext


def _copy_context(self, memo):
    copied = self.__class__.__new__(self.__class__)
    memo[id(self)] = copied
    copied.__dict__.update(
        (name, list(value) if isinstance(value, list) else value)
        for name, value in self.__dict__.items()
    )
    return copied


def install() -> None:
    PresentationContext.__deepcopy__ = _copy_context


install()
