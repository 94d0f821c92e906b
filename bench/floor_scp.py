"""The floor for the worklist bench: a bare pynetdicom Modality Worklist SCP that
answers the bench's station-day query with the same items, built in memory before
the first query, and sets TCP_NODELAY and TCP_QUICKACK on its accepted sockets
(QUICKACK again after every read, since the kernel clears it once used).

It answers what bench/mwl_bench.py asks: Scheduled Station AE Title, Scheduled
Procedure Step Start Date and, optionally, a Start Time range (HHMMSS-HHMMSS), with
the bench's return keys, for the schedule mwl_bench.py loads into the RIS (40
stations, 32 fifteen-minute slots a day each, N/3 patients). No database, no audit, no
access policy, no character set: what pynetdicom costs to send these answers, and
nothing else.

    python bench/floor_scp.py --port 11199 --size 10000 --day 2025-01-05
"""

import argparse
import contextlib
import logging
import socket
from collections import defaultdict
from datetime import date

import mwl_bench
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityWorklistInformationFind
from pynetdicom.transport import AssociationSocket, ThreadedAssociationServer

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def item(i: int, patients: int) -> tuple[str, str, Dataset]:
    """The worklist item of step i as the RIS answers the bench's query."""
    ae, start = mwl_bench.step_fields(i)
    patient_id, name, born, sex = mwl_bench.patient_fields(i % patients)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.AccessionNumber = f"B{i:09d}"
    ds.ReferringPhysicianName = "Smith^John"
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.PatientBirthDate = f"{born:%Y%m%d}"
    ds.PatientSex = sex
    ds.StudyInstanceUID = mwl_bench.study_uid(i)
    ds.RequestedProcedureDescription = "Examination"
    ds.RequestedProcedureID = f"R{i:09d}"
    ds.RequestedProcedurePriority = "ROUTINE"
    sps = Dataset()
    sps.ScheduledStationAETitle = ae
    sps.ScheduledProcedureStepStartDate = f"{start:%Y%m%d}"
    sps.ScheduledProcedureStepStartTime = f"{start:%H%M%S}"
    sps.Modality = ae[:2]
    sps.ScheduledPerformingPhysicianName = "Jones^Ann"
    sps.ScheduledProcedureStepDescription = "Examination"
    sps.ScheduledProcedureStepID = f"S{i:09d}"
    sps.ScheduledStationName = ae
    sps.ScheduledProcedureStepLocation = "Radiology"
    ds.ScheduledProcedureStepSequence = [sps]
    return ae, f"{start:%Y%m%d}", ds


def build_items(size: int, day: date) -> dict:
    """(AE title, date) → [(start time, item)] for every step of the query day."""
    per_day = len(mwl_bench.STATIONS) * mwl_bench.SLOTS_PER_DAY
    first = (day - mwl_bench.FIRST_DAY).days * per_day
    patients = max(size // 3, 1)
    items = defaultdict(list)
    for i in range(first, min(first + per_day, size)):
        ae, day_text, ds = item(i, patients)
        items[ae, day_text].append(
            (ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime, ds)
        )
    return items


def make_handler(items: dict):
    def handle_find(event):
        identifier = event.identifier
        sps = identifier.ScheduledProcedureStepSequence[0]
        times = str(sps.get("ScheduledProcedureStepStartTime", "") or "")
        low, _, high = times.partition("-")
        for start, ds in items.get(
            (sps.ScheduledStationAETitle, sps.ScheduledProcedureStepStartDate), ()
        ):
            if times and not ((not low or start >= low) and (not high or start <= high)):
                continue
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, ds

    return handle_find


class FloorSocket(AssociationSocket):
    """Delayed ACKs off for the whole association: QUICKACK is set again after every
    read, as the kernel turns it off after use."""

    def recv(self, nr_bytes: int) -> bytearray:
        data = super().recv(nr_bytes)
        if QUICKACK is not None and self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        return data


class FloorServer(ThreadedAssociationServer):
    def get_request(self):
        client, address = super().get_request()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if QUICKACK is not None:
            client.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        return client, address


def install_socket() -> None:
    """pynetdicom makes an AssociationSocket per accepted connection in
    pynetdicom.association; the floor's one re-arms QUICKACK after every read."""
    import pynetdicom.association as association
    import pynetdicom.transport as transport

    transport.AssociationSocket = FloorSocket
    if hasattr(association, "AssociationSocket"):
        association.AssociationSocket = FloorSocket


def serve(ae: AE, port: int, handlers: list) -> None:
    """Serve on 127.0.0.1:port with the floor's sockets until interrupted."""
    server = ae.make_server(("127.0.0.1", port), evt_handlers=handlers, server_class=FloorServer)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True, help="steps in the schedule")
    parser.add_argument("--day", type=date.fromisoformat, required=True, help="the query day")
    parser.add_argument("--ae-title", default="RIS")
    args = parser.parse_args()
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    install_socket()
    items = build_items(args.size, args.day)
    ae = AE(ae_title=args.ae_title)
    ae.maximum_associations = 64
    ae.add_supported_context(ModalityWorklistInformationFind)
    serve(ae, args.port, [(evt.EVT_C_FIND, make_handler(items))])


if __name__ == "__main__":
    main()
