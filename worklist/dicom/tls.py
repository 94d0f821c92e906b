"""DICOM over TLS (PS3.15 Annex B, with the BCP 195 profile's TLS 1.2 minimum): the
server side of the second listening port.

RIS_DICOM_TLS_CERT and RIS_DICOM_TLS_KEY are our certificate (chain) and private key
in PEM files. RIS_DICOM_TLS_CA, when set, holds the certificates that sign modality
certificates: a modality presenting one is checked against it, and with
RIS_DICOM_TLS_REQUIRE_CLIENT_CERT on a modality without a valid certificate cannot
connect at all (mutual TLS).
"""

import ssl

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def server_context() -> ssl.SSLContext:
    cert, key, ca = (
        settings.RIS_DICOM_TLS_CERT,
        settings.RIS_DICOM_TLS_KEY,
        settings.RIS_DICOM_TLS_CA,
    )
    if not cert or not key:
        raise ImproperlyConfigured(
            "RIS_DICOM_TLS_PORT is set: set RIS_DICOM_TLS_CERT and RIS_DICOM_TLS_KEY to our "
            "certificate and private key (PEM files)."
        )
    if settings.RIS_DICOM_TLS_REQUIRE_CLIENT_CERT and not ca:
        raise ImproperlyConfigured(
            "RIS_DICOM_TLS_REQUIRE_CLIENT_CERT needs RIS_DICOM_TLS_CA, the certificates "
            "that sign the modalities' certificates."
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
        if ca:
            context.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ImproperlyConfigured(f"Cannot load the DICOM TLS certificates: {exc}") from exc
    if settings.RIS_DICOM_TLS_REQUIRE_CLIENT_CERT:
        context.verify_mode = ssl.CERT_REQUIRED
    elif ca:
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
