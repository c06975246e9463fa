"""What a file really is, privacy stripping and perceptual hashes (no database)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from backend.microtasks.collection import media
from tests.collection import samples


def _image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_phone_jpeg_loses_exif_gps_xmp_and_comments_but_keeps_its_orientation_and_pixels():
    original = samples.jpeg(orientation=6, trailer=b"\xff\xd8MPF side image with GPS\xff\xd9")
    assert _image(original).getexif().get_ifd(0x8825)  # the sample does carry GPS

    found = media.inspect(io.BytesIO(original), "image", ["jpeg"])
    stored = found.output.read()

    kept = _image(stored)
    assert dict(kept.getexif()) == {0x0112: 6}  # only the Orientation tag is left
    assert kept.getexif().get_ifd(0x8825) == {}
    assert b"GPSLatitude" not in stored and b"PhoneMaker" not in stored and b"taken at home" not in stored
    assert b"MPF side image" not in stored
    assert "xmp" not in kept.info and "comment" not in kept.info
    # Lossless: the decoded pixels are the original's, byte for byte.
    assert np.array_equal(np.asarray(_image(original).convert("RGB")), np.asarray(kept.convert("RGB")))
    # Sizes as the photo is shown (orientation 6 = rotated a quarter turn).
    assert (found.width, found.height) == (480, 640)
    assert found.kind == "image" and found.content_type == "image/jpeg" and found.extension == "jpg"
    assert found.size == len(stored) and len(found.content_sha256) == 64 and len(found.phash) == 16


def test_an_upright_jpeg_keeps_no_exif_at_all():
    found = media.inspect(io.BytesIO(samples.jpeg()), "image")
    assert dict(_image(found.output.read()).getexif()) == {}
    assert (found.width, found.height) == (640, 480)


def test_png_is_redrawn_upright_without_exif():
    original = samples.png(orientation=8)
    assert b"PhoneMaker" in original
    found = media.inspect(io.BytesIO(original), "image", ["png"])
    data = found.output.read()
    stored = _image(data)
    assert stored.format == "PNG" and stored.size == (480, 640)
    assert dict(stored.getexif()) == {} and b"PhoneMaker" not in data


def test_the_type_comes_from_the_bytes_not_the_name():
    png_bytes = samples.png()
    found = media.inspect(io.BytesIO(png_bytes), "image", ["jpeg", "png"])
    assert found.format == "png"
    with pytest.raises(media.MediaRejected) as refused:
        media.inspect(io.BytesIO(png_bytes), "image", ["jpeg"])
    assert refused.value.field == "file.type" and "png" in refused.value.message
    with pytest.raises(media.MediaRejected) as refused:
        media.inspect(io.BytesIO(b"%PDF-1.7\n" + b"x" * 200), "image")
    assert refused.value.field == "file.type" and "pdf" in refused.value.message
    with pytest.raises(media.MediaRejected) as refused:
        media.inspect(io.BytesIO(samples.sample("voice-2s.ogg")), "image")
    assert refused.value.field == "file.type" and "audio" in refused.value.message


def test_a_cut_jpeg_and_a_pixel_bomb_are_refused():
    whole = samples.jpeg()
    with pytest.raises(media.MediaRejected) as refused:
        media.inspect(io.BytesIO(whole[: len(whole) // 2]), "image")
    assert refused.value.field == "file"
    with pytest.raises(media.MediaRejected) as refused:
        media.inspect(io.BytesIO(whole), "image", max_pixels=10_000)
    assert refused.value.field == "file.width"


def test_the_perceptual_hash_sees_through_recompression_and_resizing_but_not_other_photos():
    photo = samples.picture(seed=7)
    first = media.inspect(io.BytesIO(samples.jpeg(image=photo)), "image")
    smaller = media.inspect(io.BytesIO(samples.jpeg(image=photo.resize((480, 360)), quality=60)), "image")
    other = media.inspect(io.BytesIO(samples.jpeg(seed=8)), "image")
    assert first.content_sha256 != smaller.content_sha256
    assert media.phash_distance(first.phash, smaller.phash) <= 8
    assert media.phash_distance(first.phash, other.phash) > 8


def test_wav_duration_fingerprint_and_stripped_info_chunk():
    recording = samples.wav(3.0, seed=1)
    assert b"Gangnam-gu" in recording
    found = media.inspect(io.BytesIO(recording), "audio", ["wav"])
    stored = found.output.read()
    assert found.duration_s == pytest.approx(3.0, abs=0.01) and found.content_type == "audio/wav"
    assert b"Gangnam-gu" not in stored and stored.startswith(b"RIFF")

    louder = media.inspect(io.BytesIO(samples.wav(3.0, seed=1, gain=0.9)), "audio")
    another = media.inspect(io.BytesIO(samples.wav(3.0, seed=2)), "audio")
    assert louder.content_sha256 != found.content_sha256
    assert media.fingerprint_distance(found.fingerprint, louder.fingerprint) <= 0.1
    assert media.fingerprint_distance(found.fingerprint, another.fingerprint) > 0.3


@pytest.mark.parametrize(("name", "kind", "duration", "secret"), [
    ("voice-2s.ogg", "audio", 2.0, b"Seoul"),
    ("voice-2s.m4a", "audio", 2.0, b"Seoul"),
    ("clip-1s.mp4", "video", 1.0, b"my street"),
    ("clip-1s.mov", "video", 1.0, b"37.5665"),
    ("clip-1s.webm", "video", 1.0, None),
])
def test_recordings_and_videos_report_their_duration_and_lose_their_tags(name, kind, duration, secret):
    data = samples.sample(name)
    if secret:
        assert secret in data
    found = media.inspect(io.BytesIO(data), kind)
    stored = found.output.read()
    assert found.duration_s == pytest.approx(duration, abs=0.05)
    if secret:
        assert secret not in stored
    # What is stored still reads as the same media.
    assert media.inspect(io.BytesIO(stored), kind).duration_s == pytest.approx(found.duration_s)
    if kind == "video" and name != "clip-1s.webm":
        assert (found.width, found.height) == (64, 48)


def test_a_video_is_not_a_recording_and_garbage_is_not_a_video():
    with pytest.raises(media.MediaRejected) as refused:
        media.inspect(io.BytesIO(samples.sample("clip-1s.webm")), "audio")
    assert refused.value.field == "file.type"
    with pytest.raises(media.MediaRejected):
        media.inspect(io.BytesIO(samples.sample("clip-1s.mp4")[:200]), "video")


def test_strip_jpeg_refuses_what_is_not_a_jpeg():
    with pytest.raises(ValueError):
        media.strip_jpeg_metadata(b"\x89PNG\r\n")
    with pytest.raises(ValueError):
        media.strip_jpeg_metadata(samples.jpeg()[:300])
