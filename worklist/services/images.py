"""The images of an arrived study one click away: a preview of a series (its middle
image as a PNG, windowed as the modality asked, at most PREVIEW_SIZE pixels a side)
rendered from the kept file and cached on disk, and the link to the viewer.

A preview exists only when files are kept (RIS_STORE_FILES). Compressed images are
decoded through pydicom's pixel data handlers (pylibjpeg with its libjpeg, openjpeg
and RLE plugins): nothing is transcoded, the kept file stays as it was sent. The
instance shown is chosen by an audited selector (selectors.series_preview_instance),
so every look at an image is in the access audit; the rendering here also refuses a
user who may not see studies.
"""

import contextlib
import logging
import math
import os
import secrets
import struct
import zlib
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pydicom
from django.conf import settings
from django.core.exceptions import PermissionDenied
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, pixel_array

from worklist.models import Instance

logger = logging.getLogger(__name__)

PREVIEW_SIZE = 512
# An image larger than this (pixels of one frame) is not decoded for a preview: the
# bound keeps a web request's memory and time in check whatever a modality sent.
MAX_SOURCE_PIXELS = 64_000_000
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")


class PreviewUnavailable(Exception):
    """No preview can be shown for this instance; `reason` says why, for the page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def viewer_url(study_instance_uid: str) -> str:
    """The viewer's address for a study (RIS_VIEWER_URL with `{study_instance_uid}`
    filled in), or "" when no viewer is configured."""
    template = settings.RIS_VIEWER_URL
    if not template or not study_instance_uid:
        return ""
    return template.replace("{study_instance_uid}", quote(study_instance_uid, safe=""))


def instance_preview(*, instance: Instance, user, size: int = PREVIEW_SIZE) -> bytes:
    """The preview PNG of a kept instance, from the disk cache or rendered now (and
    cached under RIS_DATA_DIR/previews, keyed by the instance and the size)."""
    if user is None or not user.has_perm("worklist.view_study"):
        raise PermissionDenied
    source = kept_file(instance)
    cached = cache_path(instance, size)
    try:
        return cached.read_bytes()
    except FileNotFoundError:
        pass
    png = render_png(source, size=size)
    _write_atomically(cached, png)
    return png


def kept_file(instance: Instance) -> Path:
    """The instance's kept file, which must lie under RIS_DATA_DIR/studies."""
    path = _studies_root() / _kept_relative(instance)
    if not path.is_file():
        raise PreviewUnavailable("The file of this instance is missing.")
    return path


def cache_path(instance: Instance, size: int) -> Path:
    """Where the preview of this size is cached: RIS_DATA_DIR/previews, then the kept
    file's own path (study / series / instance) with the size."""
    relative = _kept_relative(instance).with_suffix("")
    return Path(settings.DATA_DIR) / "previews" / relative.parent / f"{relative.name}.{size}.png"


def _studies_root() -> Path:
    return (Path(settings.DATA_DIR) / "studies").resolve()


def _kept_relative(instance: Instance) -> Path:
    """The kept file's path below RIS_DATA_DIR/studies, never outside it."""
    if not instance.file:
        raise PreviewUnavailable("The file of this instance is not kept.")
    root = _studies_root()
    path = (Path(settings.DATA_DIR) / instance.file).resolve()
    if not path.is_relative_to(root):
        raise PreviewUnavailable("The file of this instance is not kept.")
    return path.relative_to(root)


def _write_atomically(path: Path, data: bytes) -> None:
    """A temporary name then a rename: a reader never sees half a PNG, and two
    requests rendering the same preview at once each write a whole one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        # The preview is still answered; only the cache is lost.
        logger.warning("Cannot cache the preview %s: %s", path.name, exc.strerror)


# --- rendering ----------------------------------------------------------------------


def render_png(path: Path, *, size: int = PREVIEW_SIZE) -> bytes:
    """The middle frame of a DICOM image file as an 8-bit PNG no larger than `size`
    pixels a side: grey levels through the modality LUT and the window (Window Center
    / Width, else the VOI LUT, else the image's own minimum and maximum), MONOCHROME1
    inverted; colour images as they are."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise PreviewUnavailable("The kept file cannot be read as DICOM.") from exc
    rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
    if not rows or not columns:
        raise PreviewUnavailable("This instance is not an image.")
    if rows * columns > MAX_SOURCE_PIXELS:
        raise PreviewUnavailable("This image is too large for a preview.")
    frames = int(header.get("NumberOfFrames") or 1)
    index = frames // 2
    try:
        pixels = pixel_array(str(path), index=index if frames > 1 else None)
    except Exception as exc:  # pydicom's decoders raise many kinds; none may reach the page
        logger.warning(
            "No preview of %s (%s): %s",
            header.get("SOPInstanceUID", "?"),
            getattr(header.file_meta, "TransferSyntaxUID", "?"),
            exc,
        )
        raise PreviewUnavailable("This image cannot be decoded here.") from exc
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, header)
        photometric = "RGB"
    if photometric in COLOUR or pixels.ndim == 3:
        image = _colour_as_8_bits(downscale(pixels, size), header)
    else:
        image = grey_levels(downscale(_modality_values(pixels, header, index), size), header, index)
        if photometric == "MONOCHROME1":
            image = 255 - image
    return png_bytes(np.ascontiguousarray(image, dtype=np.uint8))


def _modality_values(pixels, header, index: int):
    """Stored values through the modality LUT (Rescale Slope / Intercept or the Modality
    LUT Sequence, per frame in an enhanced multi-frame image): the values the window
    is given in."""
    values = pixels.astype(np.float64)
    slope = _frame_value(header, index, "PixelValueTransformationSequence", "RescaleSlope")
    intercept = _frame_value(header, index, "PixelValueTransformationSequence", "RescaleIntercept")
    if "ModalityLUTSequence" in header:
        return apply_modality_lut(pixels, header).astype(np.float64)
    if slope is not None or intercept is not None:
        values = values * float(slope if slope is not None else 1) + float(intercept or 0)
    return values


def grey_levels(values, header, index: int = 0):
    """0-255 grey levels of modality values: the first window the image offers, applied
    as its VOI LUT Function says (PS3.3 C.11.2.1.2); else its VOI LUT; else the range
    of the values shown."""
    center = _frame_value(header, index, "FrameVOILUTSequence", "WindowCenter")
    width = _frame_value(header, index, "FrameVOILUTSequence", "WindowWidth")
    function = str(
        _frame_value(header, index, "FrameVOILUTSequence", "VOILUTFunction") or "LINEAR"
    ).strip()
    if center is not None and width is not None:
        return window(values, float(center), float(width), function)
    if "VOILUTSequence" in header:
        # A broken LUT: the range of the values, below.
        with contextlib.suppress(ValueError, AttributeError, IndexError, KeyError, TypeError):
            values = apply_voi(values.astype(np.int64), header).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def window(values, center: float, width: float, function: str = "LINEAR"):
    """Window Center / Width to 0-255 (PS3.3 C.11.2.1.2.1 LINEAR, C.11.2.1.3.2
    LINEAR_EXACT, C.11.2.1.3.1 SIGMOID)."""
    if function == "SIGMOID" and width > 0:
        return np.rint(255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))).astype(np.uint8)
    if function == "LINEAR_EXACT" and width > 0:
        scaled = ((values - center) / width + 0.5) * 255.0
    else:
        width = max(width, 1.0)  # LINEAR requires a width of at least 1
        if width == 1.0:
            return np.where(values <= center - 0.5, 0, 255).astype(np.uint8)
        scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def _frame_value(header, index: int, sequence: str, keyword: str):
    """An attribute of the frame shown: from its Per-frame Functional Group, else the
    Shared Functional Groups (enhanced multi-frame images), else the image itself. Of
    a multi-valued one the first value (the window the modality suggests first)."""
    places = []
    for groups, item in (
        ("PerFrameFunctionalGroupsSequence", index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        items = header.get(groups)
        if items and len(items) > item and items[item].get(sequence):
            places.append(items[item].get(sequence)[0])
    places.append(header)
    for place in places:
        value = place.get(keyword)
        if value is None or value == "":
            continue
        if isinstance(value, MultiValue | list | tuple):
            return value[0] if len(value) else None
        return value
    return None


def _colour_as_8_bits(pixels, header):
    if pixels.dtype == np.uint8:
        return pixels
    bits = int(header.get("BitsStored") or 8)
    if bits <= 8:
        return pixels.astype(np.uint8)
    return (pixels.astype(np.uint32) >> (bits - 8)).clip(0, 255).astype(np.uint8)


def downscale(pixels, size: int):
    """The image shrunk by a whole factor until no side exceeds `size`, each output
    pixel the mean of its block (edges padded by repetition)."""
    height, width = pixels.shape[:2]
    factor = math.ceil(max(height, width) / size)
    if factor <= 1:
        return pixels
    pad_h, pad_w = (-height) % factor, (-width) % factor
    padding = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (pixels.ndim - 2)
    padded = np.pad(pixels, padding, mode="edge")
    blocks = padded.reshape(
        (height + pad_h) // factor, factor, (width + pad_w) // factor, factor, *pixels.shape[2:]
    )
    mean = blocks.mean(axis=(1, 3))
    return np.rint(mean).astype(pixels.dtype) if pixels.dtype.kind in "ui" else mean


def png_bytes(image) -> bytes:
    """An 8-bit greyscale (2-D) or RGB (H x W x 3) array as a PNG file (PNG spec: one
    IDAT of rows each preceded by filter type 0)."""
    height, width = image.shape[:2]
    colour_type = 2 if image.ndim == 3 else 0
    rows = image.reshape(height, -1)
    raw = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 1:] = rows

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)),
            chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
            chunk(b"IEND", b""),
        )
    )
