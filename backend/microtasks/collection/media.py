"""What an uploaded file really is, read from its bytes, and a copy of it fit to keep.

Nothing here trusts a file name or a Content-Type header. The type comes from the file's magic
bytes (`filetype`), then the format's own parser must open it: Pillow decodes images fully,
mutagen reads audio containers (duration from the stream info), hachoir — pure Python, so no
native parser ever sees a worker's file — reads video containers (MP4/MOV/WebM: duration and,
where the container says, the frame size).

Privacy, before anything is stored:
- JPEG: every metadata segment (EXIF with GPS, XMP, IPTC, comments, MPF side images) is cut
  out losslessly; only the Orientation tag is written back, so the photo still shows upright.
  PNG and WebP are re-encoded from the pixels with the orientation applied (no EXIF, no text).
- MP4/MOV/M4A: the metadata boxes (udta, meta, uuid — where phones keep the location) are
  turned into `free` boxes of the same size, so no sample offset moves.
- OGG, FLAC, MP3: tags are deleted with mutagen. WAV: rewritten with only its format and samples.
- WebM is stored as received (browsers write no location into it).

Duplicates: a perceptual hash of the upright image (imagehash pHash) and, for PCM WAV, a coarse
loudness-envelope fingerprint; plus a SHA-256 of the stored (metadata-free) bytes for all kinds.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import tempfile
import warnings
import wave
from dataclasses import dataclass
from typing import BinaryIO

import filetype

KINDS = ("image", "audio", "video")
# kind → format → (content type, file extension)
FORMATS: dict[str, dict[str, tuple[str, str]]] = {
    "image": {"jpeg": ("image/jpeg", "jpg"), "png": ("image/png", "png"), "webp": ("image/webp", "webp")},
    "audio": {"wav": ("audio/wav", "wav"), "ogg": ("audio/ogg", "ogg"), "mp3": ("audio/mpeg", "mp3"),
              "m4a": ("audio/mp4", "m4a"), "flac": ("audio/flac", "flac")},
    "video": {"mp4": ("video/mp4", "mp4"), "mov": ("video/quicktime", "mov"), "webm": ("video/webm", "webm")},
}
# What filetype reports → (kind, format) for the formats above.
_MIME = {
    "image/jpeg": ("image", "jpeg"), "image/png": ("image", "png"), "image/webp": ("image", "webp"),
    "audio/x-wav": ("audio", "wav"), "audio/ogg": ("audio", "ogg"), "audio/mpeg": ("audio", "mp3"),
    "audio/mp4": ("audio", "m4a"), "audio/x-flac": ("audio", "flac"),
    "video/mp4": ("video", "mp4"), "video/quicktime": ("video", "mov"), "video/webm": ("video", "webm"),
}
SNIFF_BYTES = 8192
PHASH_BITS = 64
_ORIENTATION = 0x0112


class MediaRejected(Exception):
    """The file is not what the project accepts; `field` names what is wrong (file.type, …)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Inspected:
    kind: str
    format: str
    content_type: str
    extension: str
    output: BinaryIO  # what to store: the metadata-free copy, positioned at 0
    size: int
    content_sha256: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    phash: str | None = None
    fingerprint: str | None = None


def describe(head: bytes) -> tuple[str | None, str | None, str]:
    """(kind, format, what it is in words) from the first bytes; kind/format None if unsupported."""
    guess = filetype.guess(head[:SNIFF_BYTES])
    if guess is None:
        return None, None, "of no type we recognise"
    if guess.mime in _MIME:
        kind, fmt = _MIME[guess.mime]
        return kind, fmt, f"{fmt} {kind} ({guess.mime})"
    return None, None, f"{guess.extension} ({guess.mime})"


def accepted_formats(kind: str, formats: list[str] | None) -> list[str]:
    return list(formats) if formats else list(FORMATS[kind])


def inspect(source: BinaryIO, kind: str, formats: list[str] | None = None, *,
            max_pixels: int = 60_000_000) -> Inspected:
    """Read `source` (a seekable binary file), check it is `kind` in one of `formats`, and make
    the copy to store. Raises MediaRejected naming the field that is wrong."""
    allowed = accepted_formats(kind, formats)
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    found_kind, fmt, words = describe(head)
    if kind == "audio" and found_kind == "video" and fmt in ("mp4", "mov"):
        found_kind, fmt = "audio", "m4a"  # an MP4 container that may hold only sound; mutagen decides
    if found_kind != kind or fmt not in allowed:
        raise MediaRejected("file.type", f"The file's bytes are {words}; this project collects "
                                         f"{kind} as {', '.join(allowed)}.")
    content_type, extension = FORMATS[kind][fmt]
    if kind == "image":
        result = _image(source, fmt, max_pixels)
    elif kind == "audio":
        result = _audio(source, fmt)
    else:
        result = _video(source, fmt)
    output, extra = result
    output.seek(0, io.SEEK_END)
    size = output.tell()
    output.seek(0)
    digest = hashlib.sha256()
    while block := output.read(1024 * 1024):
        digest.update(block)
    output.seek(0)
    return Inspected(kind=kind, format=fmt, content_type=content_type, extension=extension, output=output,
                     size=size, content_sha256=digest.hexdigest(), **extra)


def _spool() -> BinaryIO:
    return tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the caller closes it


# ------------------------------------------------------------------------------------ images


def _image(source: BinaryIO, fmt: str, max_pixels: int):
    import imagehash
    from PIL import Image, ImageOps

    data = source.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise MediaRejected("file.width", f"The image has {image.width}×{image.height} pixels; "
                                                  f"at most {max_pixels:,} pixels are accepted.")
            image.load()
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaRejected("file.width", f"The image has more than {max_pixels:,} pixels.") from None
    except Exception:  # Pillow raises many kinds for damaged files
        raise MediaRejected("file", f"The file is not a readable {fmt} image (damaged or cut short).") from None
    if (image.format or "").lower() != fmt:
        raise MediaRejected("file.type", f"The file is not a {fmt} image.")
    orientation = image.getexif().get(_ORIENTATION, 1)
    if orientation not in range(1, 9):
        orientation = 1
    upright = ImageOps.exif_transpose(image) or image
    extra = {"width": upright.width, "height": upright.height,
             "phash": str(imagehash.phash(upright.convert("RGB")))}
    output = _spool()
    if fmt == "jpeg":
        try:
            output.write(strip_jpeg_metadata(data, orientation))
        except ValueError:
            raise MediaRejected("file", "The file is not a well-formed JPEG image.") from None
    else:
        _reencode(upright, fmt, image.info.get("icc_profile"), output)
    return output, extra


def _reencode(image, fmt: str, icc_profile: bytes | None, target: BinaryIO) -> None:
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    options = {"icc_profile": icc_profile} if icc_profile else {}
    if fmt == "png":
        image.save(target, "PNG", optimize=False, **options)
    else:
        image.save(target, "WEBP", quality=90, **options)


def _orientation_segment(orientation: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    payload = exif.tobytes()  # b"Exif\0\0" + a TIFF header + one IFD with one tag
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _keep_segment(marker: int, body: bytes) -> bool:
    if marker == 0xE0:
        return body.startswith(b"JFIF\x00")  # not JFXX thumbnails
    if marker == 0xE2:
        return body.startswith(b"ICC_PROFILE\x00")  # colour, not MPF side images or FlashPix
    if marker == 0xEE:
        return body.startswith(b"Adobe")  # needed to decode CMYK/YCCK colours
    return not (0xE1 <= marker <= 0xEF or marker == 0xFE)  # other APPn and comments go


def strip_jpeg_metadata(data: bytes, orientation: int = 1) -> bytes:
    """The JPEG without metadata segments and without anything after its end marker, losslessly
    (the compressed image data is copied byte for byte); an Orientation-only EXIF when ≠ 1."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start marker")
    segments: list[bytes] = []
    i, n = 2, len(data)
    while True:
        if i >= n or data[i] != 0xFF:
            raise ValueError("expected a marker")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise ValueError("cut short")
        marker = data[i]
        i += 1
        if marker == 0xD9:
            segments.append(b"\xff\xd9")
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            segments.append(bytes((0xFF, marker)))
            continue
        if i + 2 > n:
            raise ValueError("cut short")
        length = struct.unpack(">H", data[i:i + 2])[0]
        if length < 2 or i + length > n:
            raise ValueError("segment runs past the end")
        body = data[i + 2:i + length]
        if _keep_segment(marker, body):
            segments.append(bytes((0xFF, marker)) + data[i:i + length])
        i += length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            j = i
            while True:
                j = data.find(b"\xff", j)
                if j < 0 or j + 1 >= n:
                    raise ValueError("scan data cut short")
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    j += 1
                    continue
                break
            segments.append(data[i:j])
            i = j
    head = [b"\xff\xd8"]
    if segments and segments[0][:2] == b"\xff\xe0":
        head.append(segments.pop(0))
    if orientation != 1:
        head.append(_orientation_segment(orientation))
    return b"".join(head + segments)


# ------------------------------------------------------------------------------------- audio


def _audio(source: BinaryIO, fmt: str):
    import mutagen

    parsers = _audio_parsers()
    try:
        parsed = parsers[fmt](source)
        source.seek(0)
    except (mutagen.MutagenError, struct.error, ValueError, EOFError, IndexError):
        raise MediaRejected("file", f"The file is not a readable {fmt} recording.") from None
    info = getattr(parsed, "info", None)
    length = float(getattr(info, "length", 0) or 0)
    if fmt == "m4a" and not getattr(info, "codec", ""):
        raise MediaRejected("file.type", "The MP4 file holds no sound track.")
    if length <= 0:
        raise MediaRejected("file.duration_s", "The recording's duration cannot be read from the file.")
    extra: dict = {"duration_s": round(length, 3)}
    output = _spool()
    _copy(source, output)
    if fmt == "wav":
        extra["fingerprint"] = _clean_wav(source, output)
    elif fmt == "m4a":
        blank_mp4_metadata(output)
    else:
        output.seek(0)
        with contextlib.suppress(mutagen.MutagenError):
            parsers[fmt](output).delete(output)
    return output, extra


def _audio_parsers():
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.ogg import OggFileType
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggspeex import OggSpeex
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE

    def ogg(fileobj) -> OggFileType:
        last: Exception | None = None
        for kind in (OggOpus, OggVorbis, OggFLAC, OggSpeex):
            fileobj.seek(0)
            try:
                return kind(fileobj)
            except Exception as error:  # noqa: BLE001 - try the next codec
                last = error
        raise ValueError(f"no known codec in this Ogg file: {last}")

    return {"wav": WAVE, "mp3": MP3, "m4a": MP4, "flac": FLAC, "ogg": ogg}


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    source.seek(0)
    while block := source.read(1024 * 1024):
        target.write(block)
    source.seek(0)
    target.seek(0)


def _clean_wav(source: BinaryIO, output: BinaryIO) -> str | None:
    """Rewrite a PCM WAV with only its format and samples (no LIST/INFO or ID3 chunks); return
    its loudness fingerprint. Formats the wave module cannot read are kept as received."""
    source.seek(0)
    try:
        with wave.open(source, "rb") as reader:
            params = reader.getparams()
            frames = reader.readframes(params.nframes)
    except (wave.Error, EOFError, struct.error):
        return None
    output.seek(0)
    output.truncate()
    with wave.open(output, "wb") as writer:
        writer.setparams(params)
        writer.writeframes(frames)
    output.seek(0)
    return loudness_fingerprint(frames, params.nchannels, params.sampwidth, params.framerate)


FRAME_S = 0.05
FINGERPRINT_MAX_S = 120


def loudness_fingerprint(frames: bytes, channels: int, sample_width: int, rate: int) -> str | None:
    """Whether each 50 ms frame is louder than the one before, as bits (hex, with their count).

    Unchanged by volume, by re-saving and by small noise; two recordings of the same sentence
    made separately still differ in about half the bits. None for recordings too short to tell.
    """
    import numpy as np  # here, not at the top: only the processes that check audio need it (≈ 14 MB)

    dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}.get(sample_width)
    if dtype is None or rate <= 0:
        return None
    samples = np.frombuffer(frames[: len(frames) - len(frames) % (sample_width * channels)], dtype=dtype)
    samples = samples.astype(np.float64)
    if sample_width == 1:
        samples -= 128
    samples = samples.reshape(-1, channels).mean(axis=1)[: int(rate * FINGERPRINT_MAX_S)]
    hop = max(1, int(rate * FRAME_S))
    count = len(samples) // hop
    if count < 9:
        return None
    energy = np.log10((samples[: count * hop].reshape(count, hop) ** 2).mean(axis=1) + 1.0)
    bits = np.diff(energy) > 0
    return f"{len(bits)}:{np.packbits(bits).tobytes().hex()}"


def fingerprint_distance(a: str | None, b: str | None) -> float | None:
    """Share of differing bits of two fingerprints of about the same length (else None)."""
    if not a or not b:
        return None
    (count_a, hex_a), (count_b, hex_b) = a.split(":", 1), b.split(":", 1)
    count_a, count_b = int(count_a), int(count_b)
    if min(count_a, count_b) < 8 or abs(count_a - count_b) > 0.05 * max(count_a, count_b) + 1:
        return None
    count = min(count_a, count_b)
    import numpy as np  # see loudness_fingerprint

    bits_a = np.unpackbits(np.frombuffer(bytes.fromhex(hex_a), dtype=np.uint8))[:count]
    bits_b = np.unpackbits(np.frombuffer(bytes.fromhex(hex_b), dtype=np.uint8))[:count]
    return float(np.count_nonzero(bits_a != bits_b)) / count


def phash_distance(a: str | None, b: str | None) -> int | None:
    if not a or not b:
        return None
    return (int(a, 16) ^ int(b, 16)).bit_count()


# ------------------------------------------------------------------------------------- video


def _video(source: BinaryIO, fmt: str):
    from hachoir.core import config as hachoir_config
    from hachoir.metadata import extractMetadata
    from hachoir.parser import guessParser
    from hachoir.stream import InputIOStream

    hachoir_config.quiet = True
    source.seek(0)
    try:
        parser = guessParser(InputIOStream(source, source="upload"))
        metadata = extractMetadata(parser) if parser else None
    except Exception:  # hachoir raises many kinds for damaged files
        metadata = None
    if metadata is None:
        raise MediaRejected("file", f"The file is not a readable {fmt} video.")
    duration = metadata.get("duration") if metadata.has("duration") else None
    if duration is None or duration.total_seconds() <= 0:
        raise MediaRejected("file.duration_s", "The video's duration cannot be read from the file.")
    extra: dict = {"duration_s": round(duration.total_seconds(), 3)}
    if metadata.has("width") and metadata.has("height"):
        extra["width"], extra["height"] = int(metadata.get("width")), int(metadata.get("height"))
    output = _spool()
    _copy(source, output)
    if fmt in ("mp4", "mov"):
        blank_mp4_metadata(output)
    return output, extra


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf"}
_METADATA_BOXES = {b"udta", b"meta", b"uuid", b"XMP_"}


def blank_mp4_metadata(handle: BinaryIO) -> int:
    """Turn every metadata box of an MP4/MOV (in place) into a `free` box of the same size, its
    contents zeroed; returns how many. Sizes stay, so no chunk offset has to change."""
    handle.seek(0, io.SEEK_END)
    end = handle.tell()
    blanked = 0

    def walk(start: int, stop: int, depth: int) -> None:
        nonlocal blanked
        position = start
        while position + 8 <= stop and depth < 8:
            handle.seek(position)
            size, kind = struct.unpack(">I4s", handle.read(8))
            header = 8
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
                header = 16
            elif size == 0:
                size = stop - position
            if size < header or position + size > stop:
                return
            if kind in _METADATA_BOXES:
                handle.seek(position + 4)
                handle.write(b"free")
                handle.seek(position + header)
                left = size - header
                while left > 0:
                    step = min(left, 1024 * 1024)
                    handle.write(b"\x00" * step)
                    left -= step
                blanked += 1
            elif kind in _CONTAINERS:
                walk(position + header, position + size, depth + 1)
            position += size

    walk(0, end, 0)
    handle.seek(0)
    return blanked
