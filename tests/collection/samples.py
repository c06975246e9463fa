"""Sample media made by the tests: photos with EXIF and GPS, PCM recordings, and the committed
small audio/video files in media/ (see media/README.md)."""

from __future__ import annotations

import io
import random
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

MEDIA = Path(__file__).parent / "media"
SEOUL = ((37.0, 33.0, 59.4), (126.0, 58.0, 40.8))  # the GPS position written into sample photos
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>37,33.99N</exif:GPSLatitude></x:xmpmeta>'


def picture(seed: int = 1, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A street-sign-like picture: a background and coloured boxes placed by `seed`."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(40, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0] - 40), rng.randrange(size[1] - 40)
        w, h = rng.randrange(20, size[0] // 2), rng.randrange(20, size[1] // 2)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0131] = "Camera 1.0"  # Software
    if orientation != 1:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", SEOUL[0], "E", SEOUL[1]
    return exif


def jpeg(seed: int = 1, size: tuple[int, int] = (640, 480), *, orientation: int = 1, quality: int = 90,
         image: Image.Image | None = None, trailer: bytes = b"") -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS, XMP, a comment; optional data after EOI."""
    buffer = io.BytesIO()
    (image or picture(seed, size)).save(buffer, "JPEG", quality=quality, exif=exif_with_gps(orientation),
                                        xmp=XMP, comment=b"taken at home")
    return buffer.getvalue() + trailer


def png(seed: int = 1, size: tuple[int, int] = (640, 480), *, orientation: int = 1) -> bytes:
    buffer = io.BytesIO()
    picture(seed, size).save(buffer, "PNG", exif=exif_with_gps(orientation))
    return buffer.getvalue()


def speech_like(seconds: float, seed: int = 1, rate: int = 16000) -> np.ndarray:
    """Syllable-like bursts of tone and noise: a loudness envelope that varies like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    envelope = np.repeat(rng.uniform(0.02, 1.0, size=n // 800 + 1), 800)[:n]
    signal = envelope * (0.6 * np.sin(2 * np.pi * rng.uniform(120, 300) * t) + 0.2 * rng.standard_normal(n))
    return signal / np.max(np.abs(signal))


def wav(seconds: float = 3.0, seed: int = 1, *, rate: int = 16000, gain: float = 0.5,
        samples: np.ndarray | None = None) -> bytes:
    """A 16-bit mono PCM WAV, with a LIST/INFO chunk naming a place (to see it stripped)."""
    signal = samples if samples is not None else speech_like(seconds, seed, rate)
    pcm = (np.clip(signal * gain, -1, 1) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    data = buffer.getvalue()
    info = b"INFO" + b"INAM" + (10).to_bytes(4, "little") + b"Gangnam-gu"
    chunk = b"LIST" + len(info).to_bytes(4, "little") + info
    body = data[12:] + chunk
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body


def sample(name: str) -> bytes:
    return (MEDIA / name).read_bytes()
