"""Redraw every media file of the exam banks in quizzes/banks/media/ (deterministic).

    .venv/bin/python quizzes/banks/_tools/make_media.py            # draw everything, print keys
    .venv/bin/python quizzes/banks/_tools/make_media.py --print    # only print the answer keys

Images are drawn with Pillow; OCR images need a Korean font (Debian package fonts-nanum), audio
needs espeak-ng (Korean voice `ko`) and sox (OGG Vorbis). The answer keys in the bank YAML files
are the boxes and texts printed here; tests/quizzes/test_bank_content.py compares them again, and
`flask --app wsgi quizzes import --dry-run quizzes/banks` checks the banks themselves.

File names: media/<bank-key>-<question-key>.<ext>.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

BANKS = Path(__file__).resolve().parents[1]
MEDIA = BANKS / "media"
FONT_DIR = Path("/usr/share/fonts/truetype/nanum")

# --------------------------------------------------------------------------------------------
# bbox-level-1: simple street scenes, 320x240. Labels: car, person, sign (the plate only).
# Every object is drawn into an id map as well; the answer box is the bounding box of the
# pixels that are still that object's after everything in front of it was drawn, i.e. the
# visible part, clipped to the image (the guideline: tight, visible part, cut at the edge).
# --------------------------------------------------------------------------------------------
W, H = 320, 240

# object tuples, drawn in order (later = in front):
#   ("car", x, y, w, h, colour)      ("person", x, y, h, colour)
#   ("sign", x, y, size, shape, colour, pole_len, pictogram)   shape: round|square|octagon
#   ("hedge", x, y, w, h)  ("tree", x, y, h)  ("building", x, y, w, h, colour)   -> no label
BBOX_SCENES: dict[str, list[tuple]] = {
    # tight box around one car
    "p01": [
        ("building", 10, 40, 70, 80, (205, 190, 170)),
        ("building", 230, 25, 80, 95, (180, 185, 200)),
        ("tree", 20, 60, 90),
        ("car", 97, 126, 132, 60, (40, 90, 200)),
    ],
    # occlusion: the left part of the car is hidden behind a hedge; a person stands apart
    "p02": [
        ("building", 150, 30, 120, 90, (200, 185, 165)),
        ("car", 150, 132, 124, 58, (200, 40, 40)),
        ("hedge", 108, 118, 100, 92),
        ("person", 40, 118, 76, (230, 140, 30)),
    ],
    # truncation: a car cut by the right edge, a person cut by the left edge
    "p03": [
        ("building", 90, 30, 110, 90, (190, 200, 185)),
        ("car", 236, 128, 136, 62, (30, 150, 90)),
        ("person", -14, 112, 96, (120, 60, 170)),
        ("sign", 150, 52, 30, "round", (30, 80, 200), 80, False),
    ],
    # tiny objects far away, one big sign close by
    "p04": [
        ("building", 180, 70, 120, 45, (200, 200, 205)),
        ("sign", 28, 36, 44, "square", (240, 200, 20), 110, False),
        ("car", 196, 112, 26, 12, (200, 40, 40)),
        ("person", 262, 102, 18, (40, 40, 160)),
    ],
    # class confusion: the person pictogram on the crosswalk sign is not a person
    "p05": [
        ("building", 10, 20, 100, 95, (210, 195, 175)),
        ("sign", 204, 26, 52, "square", (30, 90, 210), 130, True),
        ("car", 14, 142, 104, 52, (230, 230, 235)),
        ("person", 136, 108, 84, (210, 60, 60)),
    ],
    # crowd: four people standing close together, each gets a box
    "p06": [
        ("building", 40, 30, 240, 85, (195, 190, 185)),
        ("person", 84, 104, 92, (40, 120, 200)),
        ("person", 116, 110, 86, (220, 150, 40)),
        ("person", 150, 102, 94, (60, 160, 80)),
        ("person", 186, 112, 84, (180, 50, 90)),
    ],
    # one car partly behind another
    "p07": [
        ("building", 200, 35, 100, 80, (185, 195, 210)),
        ("car", 40, 118, 128, 56, (40, 160, 70)),
        ("car", 120, 146, 150, 68, (240, 200, 30)),
    ],
    # signs: only the plate, never the pole
    "p08": [
        ("building", 100, 40, 110, 75, (205, 195, 180)),
        ("sign", 228, 34, 48, "octagon", (210, 30, 30), 120, False),
        ("sign", 34, 50, 36, "round", (30, 80, 200), 100, False),
        ("car", 88, 150, 116, 54, (90, 90, 95)),
    ],
    # a person standing in front of the middle of a car: the car box still spans the car
    "p09": [
        ("building", 20, 30, 90, 85, (190, 200, 185)),
        ("car", 66, 122, 184, 74, (170, 175, 185)),
        ("person", 140, 112, 100, (60, 60, 60)),
    ],
}

SKY = (196, 226, 245)
ROAD = (150, 150, 150)
PAVEMENT = (200, 192, 178)


class Canvas:
    """An RGB picture and an id map drawn with the same geometry."""

    def __init__(self) -> None:
        self.img = Image.new("RGB", (W, H), SKY)
        self.ids = Image.new("L", (W, H), 0)
        self.d = ImageDraw.Draw(self.img)
        self.m = ImageDraw.Draw(self.ids)
        self.labels: dict[int, str] = {}
        self._next = 1

    def new_id(self, label: str | None) -> int:
        oid = self._next
        self._next += 1
        if label:
            self.labels[oid] = label
        return oid

    def rect(self, box, fill, oid):
        self.d.rectangle(box, fill=fill)
        self.m.rectangle(box, fill=oid)

    def rrect(self, box, r, fill, oid):
        self.d.rounded_rectangle(box, radius=r, fill=fill)
        self.m.rounded_rectangle(box, radius=r, fill=oid)

    def ellipse(self, box, fill, oid):
        self.d.ellipse(box, fill=fill)
        self.m.ellipse(box, fill=oid)

    def poly(self, pts, fill, oid):
        self.d.polygon(pts, fill=fill)
        self.m.polygon(pts, fill=oid)


def _shade(c, k):
    return tuple(max(0, min(255, int(v * k))) for v in c)


def draw_car(cv: Canvas, x, y, w, h, colour):
    oid = cv.new_id("car")
    body_top, body_bot = y + round(0.35 * h), y + round(0.8 * h)
    cabin = [(x + round(0.2 * w), body_top), (x + round(0.3 * w), y),
             (x + round(0.7 * w), y), (x + round(0.82 * w), body_top)]
    cv.poly(cabin, _shade(colour, 0.85), oid)
    # windows (same object)
    win = [(x + round(0.25 * w), body_top - 1), (x + round(0.33 * w), y + round(0.08 * h)),
           (x + round(0.67 * w), y + round(0.08 * h)), (x + round(0.76 * w), body_top - 1)]
    cv.poly(win, (170, 210, 235), oid)
    cv.rrect([x, body_top, x + w - 1, body_bot], max(1, round(0.08 * h)), colour, oid)
    lamp_h = max(1, round(0.1 * h))
    cv.rect([x + w - 1 - max(1, round(0.05 * w)), body_top + 2, x + w - 1, body_top + 2 + lamp_h],
            (255, 230, 120), oid)
    r = max(1, round(0.2 * h))
    for cx in (x + round(0.22 * w), x + round(0.78 * w)):
        cy = body_bot
        cv.ellipse([cx - r, cy - r, cx + r, y + h - 1], (30, 30, 30), oid)


def draw_person(cv: Canvas, x, y, h, colour):
    oid = cv.new_id("person")
    w = max(3, round(0.42 * h))
    d = max(2, round(0.2 * h))
    hx = x + (w - d) // 2
    cv.ellipse([hx, y, hx + d - 1, y + d - 1], (240, 200, 160), oid)
    torso_bot = y + d + round(0.42 * h)
    cv.rrect([x, y + d, x + w - 1, torso_bot], max(1, round(0.06 * h)), colour, oid)
    leg_w = max(1, round(0.38 * w))
    legs = (40, 40, 70)
    cv.rect([x + max(0, round(0.06 * w)), torso_bot, x + max(0, round(0.06 * w)) + leg_w - 1, y + h - 1], legs, oid)
    cv.rect([x + w - 1 - max(0, round(0.06 * w)) - leg_w + 1, torso_bot, x + w - 1 - max(0, round(0.06 * w)), y + h - 1], legs, oid)


def draw_sign(cv: Canvas, x, y, size, shape, colour, pole_len, pictogram):
    pole = cv.new_id(None)
    px = x + size // 2
    pw = max(2, size // 12)
    cv.rect([px - pw // 2, y + size // 2, px - pw // 2 + pw - 1, y + size + pole_len], (110, 110, 115), pole)
    oid = cv.new_id("sign")
    x1, y1 = x + size - 1, y + size - 1
    if shape == "round":
        cv.ellipse([x, y, x1, y1], colour, oid)
        cv.ellipse([x + size // 5, y + size // 5, x1 - size // 5, y1 - size // 5], (255, 255, 255), oid)
        cv.rect([x + size // 4, y + size // 2 - 2, x1 - size // 4, y + size // 2 + 2], colour, oid)
    elif shape == "octagon":
        c = size * 0.2929
        pts = [(x + c, y), (x1 - c, y), (x1, y + c), (x1, y1 - c), (x1 - c, y1), (x + c, y1), (x, y1 - c), (x, y + c)]
        pts = [(round(a), round(b)) for a, b in pts]
        cv.poly(pts, colour, oid)
        cv.rect([x + size // 5, y + size // 2 - 3, x1 - size // 5, y + size // 2 + 3], (255, 255, 255), oid)
    else:
        cv.rrect([x, y, x1, y1], max(2, size // 10), colour, oid)
        if pictogram:  # a walking-person pictogram: part of the sign, not a person
            s = size
            cv.ellipse([x + int(s * .42), y + int(s * .12), x + int(s * .56), y + int(s * .26)], (255, 255, 255), oid)
            cv.rect([x + int(s * .42), y + int(s * .28), x + int(s * .56), y + int(s * .58)], (255, 255, 255), oid)
            cv.poly([(x + int(s * .42), y + int(s * .56)), (x + int(s * .30), y + int(s * .86)),
                     (x + int(s * .38), y + int(s * .88)), (x + int(s * .50), y + int(s * .60))], (255, 255, 255), oid)
            cv.poly([(x + int(s * .50), y + int(s * .56)), (x + int(s * .66), y + int(s * .86)),
                     (x + int(s * .74), y + int(s * .82)), (x + int(s * .56), y + int(s * .56))], (255, 255, 255), oid)
            for i in range(5):  # zebra stripes
                cv.rect([x + int(s * (.12 + .16 * i)), y + int(s * .9), x + int(s * (.2 + .16 * i)), y + int(s * .94)],
                        (255, 255, 255), oid)
        else:
            cv.poly([(x + size // 2, y + size // 6), (x1 - size // 6, y1 - size // 6), (x + size // 6, y1 - size // 6)],
                    (30, 30, 30), oid)


def draw_hedge(cv: Canvas, x, y, w, h):
    oid = cv.new_id(None)
    cv.rrect([x, y, x + w - 1, y + h - 1], 10, (60, 130, 60), oid)
    rnd = random.Random(x * 1000 + y)
    for _ in range(40):  # leaves texture, inside the hedge
        lx, ly = rnd.randint(x + 6, x + w - 12), rnd.randint(y + 6, y + h - 12)
        cv.d.ellipse([lx, ly, lx + 6, ly + 5], fill=(45, 110, 45))


def draw_tree(cv: Canvas, x, y, h):
    oid = cv.new_id(None)
    cv.rect([x + h // 4 - 4, y + h // 2, x + h // 4 + 4, y + h], (120, 85, 50), oid)
    cv.ellipse([x, y, x + h // 2, y + h // 2 + 10], (70, 150, 70), oid)


def draw_building(cv: Canvas, x, y, w, h, colour):
    oid = cv.new_id(None)
    cv.rect([x, y, x + w - 1, y + h - 1], colour, oid)
    for wy in range(y + 8, y + h - 14, 18):
        for wx in range(x + 8, x + w - 14, 18):
            cv.d.rectangle([wx, wy, wx + 8, wy + 9], fill=_shade(colour, 0.7))


def render_bbox(key: str):
    """Draw one scene; return (image, boxes). Boxes are x, y, w, h of the visible pixels."""
    cv = Canvas()
    cv.d.rectangle([0, 112, W - 1, 128], fill=PAVEMENT)
    cv.d.rectangle([0, 129, W - 1, H - 1], fill=ROAD)
    for sx in range(6, W, 48):
        cv.d.rectangle([sx, 218, sx + 24, 221], fill=(235, 235, 235))
    for obj in BBOX_SCENES[key]:
        kind, args = obj[0], obj[1:]
        {"car": draw_car, "person": draw_person, "sign": draw_sign, "hedge": draw_hedge,
         "tree": draw_tree, "building": draw_building}[kind](cv, *args)
    boxes = []
    for oid, label in cv.labels.items():
        mask = cv.ids.point(lambda v, o=oid: 255 if v == o else 0)
        bb = mask.getbbox()
        if bb is None:
            raise ValueError(f"{key}: object {oid} ({label}) is not visible")
        l, t, r, b = bb
        boxes.append({"x": l, "y": t, "w": r - l, "h": b - t, "label": label})
    boxes.sort(key=lambda bx: (bx["label"], bx["x"], bx["y"]))
    return cv.img, boxes


# --------------------------------------------------------------------------------------------
# ocr-level-1: photos of Korean text. `text` is the answer key: what a worker must type
# (a new line where the image has one, one space for any gap, [?] per unreadable character).
# --------------------------------------------------------------------------------------------
OCR_ITEMS: dict[str, dict] = {
    "p01": {"text": "GS25 강남역점", "style": "shopsign"},
    "p02": {"text": "바나나 1송이\n3,900원", "style": "pricetag"},
    "p03": {"text": "합계 ₩14,000", "style": "receipt"},
    "p04": {"text": "영업시간 09:00~22:00\n(연중무휴)", "style": "notice"},
    "p05": {"text": "금일 [?]업합니다", "style": "smudged"},
    "p06": {"text": "Hello 네일\nTEL 010-7240-1108", "style": "phone"},
    "p07": {"text": "주차금지\n위반 시 견인 조치", "style": "parking"},
    "p08": {"text": "무료 Wi-Fi\n비밀번호 ondo1004", "style": "wifi"},
    "p09": {"text": "명란파스타 ₩12,000", "style": "handwritten"},
}


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / f"{name}.ttf"), size)


def _centered(d: ImageDraw.ImageDraw, cx, y, text, f, fill):
    l, t, r, b = d.textbbox((0, 0), text, font=f)
    d.text((cx - (r - l) / 2 - l, y), text, font=f, fill=fill)
    return y + (b - t)


def _photo(img: Image.Image, seed: int, angle: float, bg) -> Image.Image:
    """Make a flat drawing look like a phone photo: tilt, uneven light, noise, blur, JPEG."""
    rnd = random.Random(seed)
    img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=bg)
    w, h = img.size
    light = Image.linear_gradient("L").rotate(rnd.choice([0, 90, 180, 270])).resize((w, h))
    light = light.point(lambda v: 200 + v * 55 // 255)
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    img = Image.composite(img, dark, light)
    noise = Image.effect_noise((w, h), 18).convert("RGB")
    img = Image.blend(img, noise, 0.07)
    return img.filter(ImageFilter.GaussianBlur(0.7))


def render_ocr(key: str) -> Image.Image:
    style = OCR_ITEMS[key]["style"]
    seed = int(key[1:])
    if style == "shopsign":
        bg = (90, 95, 100)
        img = Image.new("RGB", (360, 150), bg)
        d = ImageDraw.Draw(img)
        d.rounded_rectangle([18, 30, 342, 122], 8, fill=(20, 60, 150))
        d.rectangle([18, 104, 342, 122], fill=(0, 170, 90))
        d.text((36, 46), "GS25", font=font("NanumSquareEB", 44), fill=(255, 255, 255))
        d.text((190, 56), "강남역점", font=font("NanumGothicBold", 32), fill=(255, 255, 255))
        angle = -3.0
    elif style == "pricetag":
        bg = (235, 225, 200)
        img = Image.new("RGB", (300, 170), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([30, 20, 270, 150], fill=(255, 220, 40), outline=(200, 60, 40), width=3)
        _centered(d, 150, 32, "바나나 1송이", font("NanumGothicBold", 28), (30, 30, 30))
        _centered(d, 150, 78, "3,900원", font("NanumSquareEB", 46), (200, 30, 30))
        angle = 2.5
    elif style == "receipt":
        bg = (120, 110, 100)
        img = Image.new("RGB", (300, 250), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([40, 0, 260, 249], fill=(250, 250, 245))
        f = font("NanumGothicCoding", 17)
        lines = [("카페 온도", 14), ("아메리카노 2   9,000", 48), ("카페라떼   1   5,000", 74),
                 ("--------------------", 100), ("합계 ₩14,000", 124), ("카드 승인 완료", 162)]
        for text, y in lines:
            d.text((56 if text != "카페 온도" else 112, y), text, font=f, fill=(40, 40, 40))
        d.rectangle([48, 118, 252, 148], outline=(220, 30, 30), width=2)
        angle = -2.0
    elif style == "notice":
        bg = (180, 170, 150)
        img = Image.new("RGB", (360, 170), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([24, 16, 336, 154], fill=(255, 255, 250), outline=(60, 60, 60), width=2)
        _centered(d, 180, 38, "영업시간 09:00~22:00", font("NanumMyeongjoBold", 28), (20, 20, 20))
        _centered(d, 180, 96, "(연중무휴)", font("NanumMyeongjo", 24), (20, 20, 20))
        angle = 1.5
    elif style == "smudged":
        bg = (150, 150, 140)
        img = Image.new("RGB", (340, 140), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([20, 20, 320, 120], fill=(252, 252, 248))
        f = font("NanumGothicBold", 36)
        d.text((44, 50), "금일 휴업합니다", font=f, fill=(20, 20, 20))
        # an ink blot over the 3rd character (휴): the worker must write [?]
        x0 = 44 + d.textlength("금일 ", font=f)
        x1 = x0 + d.textlength("휴", font=f)
        rnd = random.Random(5)
        for _ in range(140):
            cx, cy = rnd.uniform(x0 - 2, x1 + 2), rnd.uniform(48, 92)
            r = rnd.uniform(3, 8)
            shade = rnd.randint(20, 70)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(shade, shade - 5 if shade > 5 else 0, 10))
        angle = -1.5
    elif style == "phone":
        bg = (230, 220, 225)
        img = Image.new("RGB", (360, 160), bg)
        d = ImageDraw.Draw(img)
        d.rounded_rectangle([16, 14, 344, 146], 14, fill=(250, 210, 225))
        _centered(d, 180, 28, "Hello 네일", font("NanumBarunGothicBold", 38), (150, 20, 80))
        _centered(d, 180, 94, "TEL 010-7240-1108", font("NanumBarunGothic", 26), (60, 20, 40))
        angle = 2.0
    elif style == "parking":
        bg = (110, 120, 110)
        img = Image.new("RGB", (340, 170), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([20, 16, 320, 154], fill=(255, 255, 255), outline=(210, 20, 20), width=6)
        _centered(d, 170, 32, "주차금지", font("NanumSquareEB", 50), (210, 20, 20))
        _centered(d, 170, 106, "위반 시 견인 조치", font("NanumGothicBold", 24), (30, 30, 30))
        angle = -2.5
    elif style == "wifi":
        bg = (80, 60, 45)
        img = Image.new("RGB", (340, 160), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([18, 14, 322, 146], fill=(40, 45, 42), outline=(160, 120, 80), width=5)
        _centered(d, 170, 34, "무료 Wi-Fi", font("NanumGothicBold", 32), (245, 245, 240))
        _centered(d, 170, 88, "비밀번호 ondo1004", font("NanumGothic", 28), (250, 230, 120))
        angle = 3.0
    elif style == "handwritten":
        bg = (200, 190, 170)
        img = Image.new("RGB", (380, 130), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([16, 14, 364, 116], fill=(255, 253, 240))
        d.text((36, 32), "명란파스타 ₩12,000", font=font("NanumPen", 44), fill=(30, 40, 120))
        angle = -2.0
    else:  # pragma: no cover
        raise ValueError(style)
    return _photo(img, seed, angle, bg)


# --------------------------------------------------------------------------------------------
# audio-level-1: short meeting utterances synthesised with espeak-ng. `key` is what the worker
# must write (guideline format); `parts` is what is spoken: (voice, text), ("pause", s),
# ("noise", s). `overlap` (s) starts the 2nd speaker's turn that long before the 1st ends.
# Hours are spelled as they are said ("세 시"), the key writes digits ("3시").
# --------------------------------------------------------------------------------------------
V1, V2, EN = "ko", "ko+f3", "en-us"
AUDIO_ITEMS: dict[str, dict] = {
    "p01": {"key": "S1: 지금부터 주간 회의를 시작하겠습니다.",
            "parts": [(V1, "지금부터 주간 회의를 시작하겠습니다.")]},
    "p02": {"key": "S1: 다음 회의는 목요일 3시 30분입니다.",
            "parts": [(V1, "다음 회의는 목요일 세 시 삼십 분입니다.")]},
    "p03": {"key": "S1: 이번 행사 예산은 500만 원입니다.",
            "parts": [(V1, "음"), ("pause", 0.45), (V1, "어"), ("pause", 0.3),
                      (V1, "이번 행사 예산은 오백만 원입니다.")]},
    "p04": {"key": "S1: 자료 공유해 주실 수 있나요? S2: 네, 지금 보내 드릴게요.",
            "parts": [(V1, "자료 공유해 주실 수 있나요?"), ("pause", 0.2),
                      (V2, "네, 지금 보내 드릴게요.")]},
    "p05": {"key": "S1: 이번 분기 KPI는 Slack에 올려 주세요.",
            "parts": [(V1, "이번 분기"), (EN, "K P I"), (V1, "는"), (EN, "Slack"),
                      (V1, "에 올려 주세요.")]},
    "p06": {"key": "S1: 발표는 [inaudible] 팀이 맡기로 했습니다.",
            "parts": [(V1, "발표는"), ("noise", 0.8), (V1, "팀이 맡기로 했습니다.")]},
    "p07": {"key": "S1: 회의록은 제가 정리해서 공유할게요.",
            "parts": [(V1, "회"), ("pause", 0.3), (V1, "회의록은 제가 정리해서 공유할게요.")]},
    "p08": {"key": "S1: 지난달 매출이 15% 늘었습니다.",
            "parts": [(V1, "지난달 매출이 십오 퍼센트 늘었습니다.")]},
    "p09": {"key": "S1: 보고서는 월요일까지 제출해 주세요. S2: 네, 알겠습니다.",
            "parts": [(V1, "보고서는 월요일까지 제출해 주세요.")],
            "second": (V2, "네, 알겠습니다."), "overlap": 0.7},
}


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _duration(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def render_audio(key: str, out: Path) -> float:
    """Synthesise one item to OGG Vorbis 16 kHz mono; return its duration in seconds."""
    item = AUDIO_ITEMS[key]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        segs = []
        for i, (voice, arg) in enumerate(item["parts"]):
            seg = t / f"s{i}.wav"
            if voice == "pause":
                _run(["sox", "-R", "-n", "-r", "22050", "-c", "1", "-b", "16", str(seg), "trim", "0", str(arg)])
            elif voice == "noise":
                _run(["sox", "-R", "-n", "-r", "22050", "-c", "1", "-b", "16", str(seg),
                      "synth", str(arg), "pinknoise", "vol", "0.35"])
            else:
                speed = "170" if voice.startswith("ko") else "150"
                pitch = "60" if voice == V2 else "45"
                _run(["espeak-ng", "-v", voice, "-s", speed, "-p", pitch, "-w", str(seg), arg])
                # trim leading/trailing silence so parts join like one phrase
                trimmed = t / f"s{i}t.wav"
                _run(["sox", "-R", str(seg), str(trimmed), "silence", "1", "0.02", "0.5%", "reverse",
                      "silence", "1", "0.02", "0.5%", "reverse", "pad", "0", "0.06"])
                seg = trimmed
            segs.append(str(seg))
        speech = t / "speech.wav"
        _run(["sox", "-R", *segs, str(speech)])
        if "second" in item:
            voice, text = item["second"]
            s2 = t / "second.wav"
            _run(["espeak-ng", "-v", voice, "-s", "170", "-p", "60", "-w", str(s2), text])
            delay = max(0.0, _duration(speech) - item["overlap"])
            s2p = t / "second_pad.wav"
            _run(["sox", "-R", str(s2), str(s2p), "silence", "1", "0.02", "0.5%", "pad", f"{delay:.2f}", "0"])
            mixed = t / "mixed.wav"
            _run(["sox", "-R", "-m", "-v", "0.8", str(speech), "-v", "0.8", str(s2p), str(mixed)])
            speech = mixed
        padded = t / "padded.wav"
        _run(["sox", "-R", str(speech), str(padded), "pad", "0.25", "0.3"])
        # a quiet room: light noise under the speech
        room = t / "room.wav"
        _run(["sox", "-R", "-n", "-r", "22050", "-c", "1", "-b", "16", str(room),
              "synth", f"{_duration(padded):.3f}", "brownnoise", "vol", "0.03"])
        final = t / "final.wav"
        _run(["sox", "-R", "-m", str(padded), str(room), str(final), "norm", "-1"])
        _run(["sox", "-R", str(final), "-r", "16000", "-c", "1", "-C", "1", str(out)])
        return _duration(out)


# --------------------------------------------------------------------------------------------

def media_name(bank: str, qkey: str, ext: str) -> str:
    return f"{bank}-{qkey}.{ext}"


def _save_png(img: Image.Image, path: Path) -> None:
    img.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)


def main(argv: list[str]) -> int:
    only_print = "--print" in argv
    if not only_print:
        MEDIA.mkdir(parents=True, exist_ok=True)
    print("== bbox-level-1 (x, y, w, h, label) ==")
    for key in BBOX_SCENES:
        img, boxes = render_bbox(key)
        if not only_print:
            _save_png(img, MEDIA / media_name("bbox-level-1", key, "png"))
        print(key, ", ".join(f"{{x: {b['x']}, y: {b['y']}, w: {b['w']}, h: {b['h']}, label: {b['label']}}}"
                             for b in boxes))
    print("== ocr-level-1 ==")
    for key, item in OCR_ITEMS.items():
        if not only_print:
            render_ocr(key).save(MEDIA / media_name("ocr-level-1", key, "jpg"), quality=72, optimize=True)
        print(key, item["text"].replace("\n", " / "))
    print("== audio-level-1 ==")
    have_tts = shutil.which("espeak-ng") and shutil.which("sox")
    if not only_print and not have_tts:
        print("espeak-ng/sox missing: apt-get install -y espeak-ng sox libsox-fmt-base", file=sys.stderr)
        return 1
    for key, item in AUDIO_ITEMS.items():
        dur = None
        if not only_print:
            dur = render_audio(key, MEDIA / media_name("audio-level-1", key, "ogg"))
        print(key, f"({dur:.1f} s)" if dur else "", item["key"])
    if not only_print:
        total = sum(p.stat().st_size for p in MEDIA.iterdir() if p.is_file())
        print(f"== {len(list(MEDIA.iterdir()))} files, {total / 1024:.0f} KiB ==")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
