"""Previews of arrived images (worklist.services.images): the middle image of a
series as a PNG, windowed as the modality asked, shrunk to 512 px, from files kept as
sent: uncompressed, or compressed by DCMTK (JPEG-LS, RLE, JPEG baseline) and decoded
through pydicom's pixel data handlers."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.exceptions import PermissionDenied
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.conftest import require_peer
from tests.studies.dicom_files import StudySpec, compress, write_study
from worklist import selectors
from worklist.services import images

from .conftest import keep


def read_png(data: bytes) -> np.ndarray:
    """Our PNGs back to pixels (8-bit, filter type 0 rows, as images.png_bytes writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8
    channels = 3 if colour == 2 else 1
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    assert not rows[:, 0].any(), "filter type 0 on every row"
    pixels = rows[:, 1:]
    return pixels.reshape(height, width, 3) if channels == 3 else pixels.reshape(height, width)


def image_file(path: Path, pixels: np.ndarray, **attributes) -> Path:
    """A secondary capture image with these pixels and attributes."""
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.PatientID = "P1"
    frames = pixels.shape[0] if pixels.ndim == 3 and "NumberOfFrames" in attributes else 1
    colour = pixels.ndim == 3 and frames == 1
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def test_the_window_follows_the_linear_function_of_the_standard():
    values = np.array([-161.0, -160.0, 39.5, 239.0, 239.5, 1000.0])

    shown = images.window(values, center=40, width=400)

    # c - 0.5 - (w-1)/2 = -160 and below is black; above c - 0.5 + (w-1)/2 = 239 white
    assert list(shown) == [0, 0, 128, 255, 255, 255]
    assert list(images.window(values, 40, 400, "LINEAR_EXACT")) == [0, 0, 127, 254, 255, 255]


def test_rescale_then_window_as_a_ct_asks(tmp_path):
    stored = np.array([[0, 1024, 1064], [1264, 824, 2000]], dtype=np.uint16)
    path = image_file(
        tmp_path / "ct.dcm",
        stored,
        RescaleIntercept="-1024",
        RescaleSlope="1",
        WindowCenter="40",
        WindowWidth="400",
    )

    shown = read_png(images.render_png(path))

    # Hounsfield units -1024, 0, 40, 240, -200, 976 through window 40/400
    assert shown.tolist() == [[0, 102, 128], [255, 0, 255]]


def test_without_a_window_the_range_of_the_image_is_shown(tmp_path):
    path = image_file(tmp_path / "plain.dcm", np.array([[100, 180], [260, 500]], dtype=np.uint16))

    assert read_png(images.render_png(path)).tolist() == [[0, 51], [102, 255]]


def test_monochrome1_is_inverted(tmp_path):
    path = image_file(
        tmp_path / "cr.dcm",
        np.array([[100, 500]], dtype=np.uint16),
        PhotometricInterpretation="MONOCHROME1",
    )

    assert read_png(images.render_png(path)).tolist() == [[255, 0]]


def test_colour_is_shown_as_sent(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 2] = (10, 200, 30)
    path = image_file(tmp_path / "rgb.dcm", rgb)

    assert (read_png(images.render_png(path)) == rgb).all()


def test_a_large_image_is_shrunk_to_512_pixels(tmp_path):
    pixels = np.zeros((1100, 700), dtype=np.uint16)
    pixels[:, 350:] = 1000
    path = image_file(tmp_path / "large.dcm", pixels)

    shown = read_png(images.render_png(path))

    assert shown.shape == (367, 234)  # a factor of 3, the edges padded
    assert shown[:, :100].max() == 0 and shown[:, 130:].min() == 255


def test_the_middle_frame_of_a_multiframe_image_is_shown(tmp_path):
    frames = np.stack([np.full((4, 4), value, dtype=np.uint8) for value in (10, 20, 30)])
    frames[:, 0, 0] = 0
    path = image_file(
        tmp_path / "multi.dcm",
        frames,
        NumberOfFrames=3,
        WindowCenter="127.5",
        WindowWidth="256",
    )

    shown = read_png(images.render_png(path))

    assert shown[1, 1] == 20 and shown[0, 0] == 0


def test_an_instance_without_pixels_has_no_preview(tmp_path):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(tmp_path / "sr.dcm", enforce_file_format=True)

    with pytest.raises(images.PreviewUnavailable, match="not an image"):
        images.render_png(tmp_path / "sr.dcm")


# --- compressed as modalities send them (DCMTK) ---------------------------------------


def one_image(tmp_path: Path, name: str, **spec) -> Path:
    return write_study(StudySpec(series=(1,), **spec), tmp_path / name)[0]


@pytest.mark.parametrize(
    ("tool", "options"), [("dcmcjpls", ()), ("dcmcrle", ()), ("dcmcjpeg", ("+e1",))]
)
def test_lossless_compressed_images_show_as_their_uncompressed_original(tmp_path, tool, options):
    require_peer(tool, "dcmtk")
    original = one_image(tmp_path, "original")
    compressed = compress(one_image(tmp_path, tool), tool, *options)
    # The same pixels (the generator draws them from the instance number)
    expected = read_png(images.render_png(original))

    shown = read_png(images.render_png(compressed))

    assert (shown == expected).all()
    assert len(np.unique(shown)) > 10  # an image, not a flat field


def test_a_jpeg_baseline_image_shows_close_to_its_original(tmp_path):
    require_peer("dcmcjpeg", "dcmtk")
    original = one_image(tmp_path, "original", bits=8)
    compressed = compress(one_image(tmp_path, "jpeg", bits=8), "dcmcjpeg", "+eb")

    expected = read_png(images.render_png(original)).astype(int)
    shown = read_png(images.render_png(compressed)).astype(int)

    assert shown.shape == expected.shape == (64, 64)
    assert np.abs(shown - expected).mean() < 3  # lossy, but the same picture


def test_a_colour_jpeg_is_converted_from_ybr_to_rgb(tmp_path):
    require_peer("dcmcjpeg", "dcmtk")
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    rgb[:, :32] = (200, 30, 30)
    rgb[:, 32:] = (20, 40, 220)
    path = compress(image_file(tmp_path / "colour.dcm", rgb), "dcmcjpeg", "+eb")

    shown = read_png(images.render_png(path)).astype(int)

    assert np.abs(shown[8:56, 4:28] - (200, 30, 30)).max() < 12
    assert np.abs(shown[8:56, 36:60] - (20, 40, 220)).max() < 12


# --- the service: cached, bounded to who may see -------------------------------------


@pytest.fixture
def kept_ct(db, study_settings, tmp_path):
    study_settings.RIS_STORE_FILES = True
    paths = write_study(StudySpec(series=(3,)), tmp_path / "ct")
    for path in paths:
        keep(path)
    return paths


def test_a_preview_is_rendered_once_then_read_from_the_cache(kept_ct, admin_user, settings):
    series = selectors.study_list().get().series.get()
    instance = selectors.series_preview_instance(pk=series.pk, user=admin_user)
    assert instance.instance_number == 2  # the middle of three

    first = images.instance_preview(instance=instance, user=admin_user)
    cached = images.cache_path(instance, images.PREVIEW_SIZE)
    assert cached.read_bytes() == first
    assert cached.is_relative_to(Path(settings.DATA_DIR) / "previews")
    cached.write_bytes(b"cached")

    assert images.instance_preview(instance=instance, user=admin_user) == b"cached"


def test_no_preview_for_a_user_who_may_not_see_studies(kept_ct, django_user_model):
    from worklist.models import Instance

    nobody = django_user_model.objects.create_user("nobody", password="pw-nobody-1")

    with pytest.raises(PermissionDenied):
        images.instance_preview(instance=Instance.objects.first(), user=nobody)
    with pytest.raises(PermissionDenied):
        images.instance_preview(instance=Instance.objects.first(), user=None)


def test_a_file_outside_the_kept_studies_is_never_read(kept_ct, admin_user, tmp_path):
    from worklist.models import Instance

    instance = Instance.objects.first()
    instance.file = "../../etc/passwd"

    with pytest.raises(images.PreviewUnavailable):
        images.instance_preview(instance=instance, user=admin_user)


def test_the_viewer_link_is_built_from_its_template(settings):
    settings.RIS_VIEWER_URL = (
        "https://viewer.example.org/viewer?StudyInstanceUIDs={study_instance_uid}"
    )

    assert images.viewer_url("1.2.3.4") == (
        "https://viewer.example.org/viewer?StudyInstanceUIDs=1.2.3.4"
    )
    settings.RIS_VIEWER_URL = ""
    assert images.viewer_url("1.2.3.4") == ""


def test_an_enhanced_image_is_windowed_per_frame(tmp_path):
    """Enhanced multi-frame images carry the window in the functional groups: the
    frame's own (Per-frame) before the Shared one."""
    frames = np.stack([np.array([[0, 100, 200]], dtype=np.uint16)] * 3)

    def voi(center, width):
        item, macro = Dataset(), Dataset()
        item.WindowCenter, item.WindowWidth = center, width
        macro.FrameVOILUTSequence = [item]
        return macro

    shared = voi("100", "1000")
    per_frame = [Dataset(), voi("100", "101"), Dataset()]
    path = image_file(
        tmp_path / "enhanced.dcm",
        frames,
        NumberOfFrames=3,
        SharedFunctionalGroupsSequence=[shared],
        PerFrameFunctionalGroupsSequence=per_frame,
    )

    # the middle frame's own window 100/101 (under the shared one 100 would be 139)
    assert read_png(images.render_png(path)).tolist() == [[0, 129, 255]]
    assert (
        images._frame_value(pydicom.dcmread(path), 0, "FrameVOILUTSequence", "WindowWidth") == 1000
    )


def test_a_palette_colour_image_is_shown_through_its_palette(tmp_path):
    indices = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    red, green, blue = (np.zeros(256, dtype=np.uint16) for _ in range(3))
    red[1], green[2], blue[3] = 255, 255, 255
    path = image_file(
        tmp_path / "palette.dcm",
        indices,
        PhotometricInterpretation="PALETTE COLOR",
        RedPaletteColorLookupTableDescriptor=[256, 0, 16],
        GreenPaletteColorLookupTableDescriptor=[256, 0, 16],
        BluePaletteColorLookupTableDescriptor=[256, 0, 16],
        RedPaletteColorLookupTableData=(red * 257).tobytes(),
        GreenPaletteColorLookupTableData=(green * 257).tobytes(),
        BluePaletteColorLookupTableData=(blue * 257).tobytes(),
        BitsStored=8,
    )

    shown = read_png(images.render_png(path))

    assert shown.tolist() == [[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [0, 0, 255]]]
