"""C-ECHO (Verification): the "can you hear me" a modality sends before it queries
the worklist or reports a performed procedure step."""

import logging

from pynetdicom.events import Event

logger = logging.getLogger(__name__)

SUCCESS = 0x0000


def handle_echo(event: Event) -> int:
    """Answer Success: reaching this handler means the association was accepted, which
    is all a verification asks. Logged so whoever sets up a modality can see the echo
    arrive; the calling AE title and address identify a device, never a patient."""
    requestor = event.assoc.requestor
    logger.info(
        "C-ECHO from calling AE %s at %s:%s",
        requestor.ae_title,
        requestor.address,
        requestor.port,
    )
    return SUCCESS
