"""The floor for the MPPS bench: a bare pynetdicom MPPS SCP (and Verification, for the
bench's start-up check) that keeps each instance's attributes in memory, answers an
N-CREATE with them and an N-SET by applying the modification (0x0112 for an instance
it never created), with TCP_NODELAY and TCP_QUICKACK on its accepted sockets as
bench/floor_scp.py sets them.

No database, no validation of the attributes, no access policy, no audit, no status
follow-up of scheduled steps or orders: what pynetdicom costs to receive these
messages and answer them, and nothing else. Run by `bench/mpps_bench.py --floor`.

    python bench/mpps_floor_scp.py --port 11198
"""

import argparse
import logging
from threading import Lock

from floor_scp import install_socket, serve
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

NO_SUCH_INSTANCE = 0x0112


class Instances:
    """The instances created so far, by SOP Instance UID."""

    def __init__(self):
        self.lock = Lock()
        self.by_uid = {}

    def create(self, event):
        attributes = event.attribute_list
        with self.lock:
            self.by_uid[event.request.AffectedSOPInstanceUID] = attributes
        return 0x0000, attributes

    def set(self, event):
        modification = event.modification_list
        with self.lock:
            attributes = self.by_uid.get(event.request.RequestedSOPInstanceUID)
            if attributes is None:
                return NO_SUCH_INSTANCE, None
            attributes.update(modification)
        return 0x0000, modification


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ae-title", default="RIS")
    args = parser.parse_args()
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    install_socket()
    instances = Instances()
    ae = AE(ae_title=args.ae_title)
    ae.maximum_associations = 64
    ae.add_supported_context(ModalityPerformedProcedureStep)
    ae.add_supported_context(Verification)
    serve(ae, args.port, [(evt.EVT_N_CREATE, instances.create), (evt.EVT_N_SET, instances.set)])


if __name__ == "__main__":
    main()
