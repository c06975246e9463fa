#!/usr/bin/env python3
"""(Re)draw every media file of the starter course packs, deterministically.

Run from anywhere:  python courses/packs/_tools/draw_media.py
Check the bbox answer keys against the drawings:  python courses/packs/_tools/draw_media.py --check

Needs Pillow and the Debian Korean fonts:
    apt-get install fonts-nanum fonts-nanum-extra
(fonts-nanum-extra gives NanumPen for the handwriting image; without it the
script falls back to NanumGothic and says so).

Bounding boxes of the `bbox` practice examples are computed here from an
object-id map drawn alongside each picture (occluders overwrite it), so they are
the *visible* extents of the objects, in image pixels: x, y = top-left pixel,
w, h = width and height in pixels. The script prints them; the same numbers are
written into the answer keys of courses/packs/bbox-basics/lessons/*.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

PACKS = Path(__file__).resolve().parent.parent
FONT_DIR = Path("/usr/share/fonts/truetype/nanum")
MAX_BYTES = 60 * 1024
DRY_RUN = False  # --check sets this: redraw in memory and compare the bbox answer keys

GOTHIC = "NanumGothic.ttf"
GOTHIC_BOLD = "NanumGothicBold.ttf"
PEN = "NanumPen.ttf"


def font(size: int, name: str = GOTHIC) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / name
    if not path.exists():
        fallback = FONT_DIR / GOTHIC
        if not fallback.exists():
            sys.exit("Korean fonts missing: apt-get install fonts-nanum fonts-nanum-extra")
        print(f"warning: {name} missing, using {GOTHIC}", file=sys.stderr)
        path = fallback
    return ImageFont.truetype(str(path), size)


def save(img: Image.Image, pack: str, name: str, colors: int = 64) -> None:
    if DRY_RUN:
        return
    out = PACKS / pack / "media" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    rgb = img.convert("RGB")
    unique = rgb.getcolors(256)
    if unique is not None:  # few flat colours: keep them exactly
        pal = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    else:
        pal = rgb.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal.save(out, optimize=True)
    size = out.stat().st_size
    if size > MAX_BYTES:
        sys.exit(f"{out} is {size} bytes (> {MAX_BYTES})")
    print(f"wrote {out.relative_to(PACKS)} {img.size[0]}x{img.size[1]} {size} B")


# ---------------------------------------------------------------- scenes
class Scene:
    """A picture plus an object-id map drawn in step (0 = not an object)."""

    def __init__(self, w: int, h: int, bg):
        self.img = Image.new("RGB", (w, h), bg)
        self.ids = Image.new("L", (w, h), 0)
        self.d = ImageDraw.Draw(self.img)
        self.m = ImageDraw.Draw(self.ids)

    def draw(self, method: str, *args, oid: int = 0, **kw) -> None:
        getattr(self.d, method)(*args, **kw)
        kw_ids = {k: (oid if k in ("fill", "outline") and v is not None else v) for k, v in kw.items()}
        getattr(self.m, method)(*args, **kw_ids)

    def box(self, oid: int) -> dict | None:
        mask = self.ids.point(lambda v: 255 if v == oid else 0)
        bb = mask.getbbox()
        if bb is None:
            return None
        left, top, right, bottom = bb
        return {"x": left, "y": top, "w": right - left, "h": bottom - top}


def tf(x, y, s, flip, width):
    """Map unit coordinates of a shape (u, v) to picture coordinates."""
    def f(u, v):
        if flip:
            u = width - u
        return (round(x + u * s), round(y + v * s))
    return f


def ell(f, cu, cv, r, s):
    a = f(cu - r, cv - r)
    b = f(cu + r, cv + r)
    return [min(a[0], b[0]), a[1], max(a[0], b[0]), b[1]]


def rect(f, u0, v0, u1, v1):
    a, b = f(u0, v0), f(u1, v1)
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])]


def car(sc: Scene, x, y, s, color, oid, flip=False):
    """Sedan, side view. Unit frame 140 x 52 (wheels touch v=52)."""
    f = tf(x, y, s, flip, 140)
    sc.draw("polygon", [f(2, 22), f(30, 20), f(46, 4), f(96, 4), f(114, 20), f(136, 24), f(140, 30),
                        f(140, 42), f(0, 42), f(0, 28)], fill=color, oid=oid)
    glass = (190, 225, 245)
    sc.draw("polygon", [f(36, 20), f(49, 8), f(68, 8), f(68, 20)], fill=glass, oid=oid)
    sc.draw("polygon", [f(72, 20), f(72, 8), f(93, 8), f(106, 20)], fill=glass, oid=oid)
    sc.draw("rectangle", rect(f, 132, 27, 139, 31), fill=(255, 230, 120), oid=oid)  # head lamp
    for cu in (30, 110):
        sc.draw("ellipse", ell(f, cu, 42, 10, s), fill=(30, 30, 30), oid=oid)
        sc.draw("ellipse", ell(f, cu, 42, 4, s), fill=(160, 160, 160), oid=oid)


def van(sc: Scene, x, y, s, color, oid, flip=False):
    """Van (one tall box), side view. Unit frame 130 x 60."""
    f = tf(x, y, s, flip, 130)
    sc.draw("polygon", [f(0, 4), f(92, 4), f(118, 24), f(130, 30), f(130, 50), f(0, 50)], fill=color, oid=oid)
    glass = (190, 225, 245)
    for u0 in (8, 36, 64):
        sc.draw("rectangle", rect(f, u0, 12, u0 + 22, 24), fill=glass, oid=oid)
    sc.draw("polygon", [f(92, 12), f(110, 26), f(92, 26)], fill=glass, oid=oid)
    sc.draw("line", [f(90, 12), f(90, 48)], fill=(90, 90, 90), width=max(1, round(s)), oid=oid)
    for cu in (24, 104):
        sc.draw("ellipse", ell(f, cu, 50, 10, s), fill=(30, 30, 30), oid=oid)
        sc.draw("ellipse", ell(f, cu, 50, 4, s), fill=(160, 160, 160), oid=oid)


def truck(sc: Scene, x, y, s, color, oid, flip=False, cab=(60, 110, 190)):
    """Box truck: cargo box + separate cab, side view. Unit frame 170 x 70."""
    f = tf(x, y, s, flip, 170)
    sc.draw("rectangle", rect(f, 0, 0, 120, 54), fill=color, oid=oid)
    sc.draw("rectangle", rect(f, 0, 52, 168, 58), fill=(70, 70, 70), oid=oid)
    sc.draw("polygon", [f(120, 16), f(150, 16), f(170, 36), f(170, 58), f(120, 58)], fill=cab, oid=oid)
    sc.draw("polygon", [f(126, 22), f(148, 22), f(162, 36), f(126, 36)], fill=(190, 225, 245), oid=oid)
    for cu in (28, 142):
        sc.draw("ellipse", ell(f, cu, 59, 11, s), fill=(30, 30, 30), oid=oid)
        sc.draw("ellipse", ell(f, cu, 59, 4, s), fill=(160, 160, 160), oid=oid)


def person(sc: Scene, x, y, height, oid, shirt=(40, 90, 200), pants=(45, 45, 70), skin=(235, 190, 150)):
    """Standing person, front view; (x, y) = top-left, unit frame 20 x 60."""
    s = height / 60
    f = tf(x, y, s, False, 20)
    sc.draw("rectangle", rect(f, 5, 31, 9, 59), fill=pants, oid=oid)
    sc.draw("rectangle", rect(f, 11, 31, 15, 59), fill=pants, oid=oid)
    sc.draw("rectangle", rect(f, 4, 11, 16, 33), fill=shirt, oid=oid)
    sc.draw("rectangle", rect(f, 0, 12, 3, 30), fill=shirt, oid=oid)
    sc.draw("rectangle", rect(f, 17, 12, 20, 30), fill=shirt, oid=oid)
    sc.draw("ellipse", rect(f, 5, 0, 15, 10), fill=skin, oid=oid)


def street(sc: Scene, w, h, horizon=150, curb=175):
    sc.draw("rectangle", [0, 0, w, horizon], fill=(186, 220, 245))
    sc.draw("rectangle", [0, 40, w, horizon], fill=(170, 180, 196))
    for wx in range(12, w, 44):
        for wy in (56, 96):
            sc.draw("rectangle", [wx, wy, wx + 22, wy + 24], fill=(120, 140, 170))
    sc.draw("rectangle", [0, horizon, w, curb], fill=(205, 205, 200))
    sc.draw("rectangle", [0, curb, w, h], fill=(92, 92, 98))
    for lx in range(0, w, 60):
        sc.draw("rectangle", [lx + 10, 228, lx + 40, 231], fill=(235, 235, 235))


def rect_outline(d: ImageDraw.ImageDraw, b: dict, color, width=2, pad=1):
    d.rectangle([b["x"] - pad, b["y"] - pad, b["x"] + b["w"] - 1 + pad, b["y"] + b["h"] - 1 + pad],
                outline=color, width=width)


def dashed_rect(d: ImageDraw.ImageDraw, box, color, dash=6, width=2):
    x0, y0, x1, y1 = box
    for x in range(x0, x1, dash * 2):
        d.line([x, y0, min(x + dash, x1), y0], fill=color, width=width)
        d.line([x, y1, min(x + dash, x1), y1], fill=color, width=width)
    for y in range(y0, y1, dash * 2):
        d.line([x0, y, x0, min(y + dash, y1)], fill=color, width=width)
        d.line([x1, y, x1, min(y + dash, y1)], fill=color, width=width)


def tag(d: ImageDraw.ImageDraw, xy, text, fg=(255, 255, 255), bg=(20, 20, 20), size=13):
    fnt = font(size, GOTHIC_BOLD)
    l, t, r, b = d.textbbox(xy, text, font=fnt)
    d.rectangle([l - 3, t - 2, r + 3, b + 2], fill=bg)
    d.text(xy, text, font=fnt, fill=fg)


def badge(d: ImageDraw.ImageDraw, cx, cy, text, r=9):
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 250, 250), outline=(20, 20, 20), width=2)
    fnt = font(12, GOTHIC_BOLD)
    d.text((cx, cy), text, font=fnt, fill=(20, 20, 20), anchor="mm")


BOXES: dict[str, list[dict]] = {}


def iou(a: dict, b: dict) -> float:
    ix = max(0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    return inter / (a["w"] * a["h"] + b["w"] * b["h"] - inter)


def record(name: str, sc: Scene, objects: list[tuple[int, str]]) -> None:
    out = []
    for oid, label in objects:
        b = sc.box(oid)
        assert b is not None, (name, label)
        out.append({**b, "label": label})
    BOXES[name] = out


# ---------------------------------------------------------------- bbox-basics
def bbox_media() -> None:
    pack = "bbox-basics"

    # coordinates.png: what x, y, w, h mean
    img = Image.new("RGB", (320, 200), (245, 245, 240))
    d = ImageDraw.Draw(img)
    f12 = font(12)
    d.line([10, 10, 310, 10], fill=(60, 60, 60), width=1)
    d.line([10, 10, 10, 190], fill=(60, 60, 60), width=1)
    d.polygon([(310, 10), (303, 6), (303, 14)], fill=(60, 60, 60))
    d.polygon([(10, 190), (6, 183), (14, 183)], fill=(60, 60, 60))
    d.text((14, 13), "(0, 0)", font=f12, fill=(60, 60, 60))
    d.text((290, 14), "x", font=f12, fill=(60, 60, 60))
    d.text((16, 174), "y", font=f12, fill=(60, 60, 60))
    d.rectangle([110, 70, 250, 150], outline=(0, 150, 70), width=3)
    d.ellipse([106, 66, 114, 74], fill=(220, 40, 40))
    d.text((60, 48), "(x, y)", font=font(14, GOTHIC_BOLD), fill=(220, 40, 40))
    d.line([110, 165, 250, 165], fill=(30, 30, 30), width=1)
    d.text((180, 176), "w", font=font(14, GOTHIC_BOLD), fill=(30, 30, 30), anchor="mm")
    d.line([265, 70, 265, 150], fill=(30, 30, 30), width=1)
    d.text((280, 110), "h", font=font(14, GOTHIC_BOLD), fill=(30, 30, 30), anchor="mm")
    d.text((180, 110), "label: car", font=font(13), fill=(0, 120, 60), anchor="mm")
    save(img, pack, "coordinates.png")

    # tight-box.png: three boxes around the same car, A loose, B cut, C tight
    img = Image.new("RGB", (320, 130), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for i, letter in enumerate("ABC"):
        ox = i * 107
        sc = Scene(104, 100, (235, 240, 235))
        car(sc, 17, 34, 0.5, (200, 40, 40), 1)
        b = sc.box(1)
        if letter == "A":
            sc.d.rectangle([b["x"] - 9, b["y"] - 10, b["x"] + b["w"] + 8, b["y"] + b["h"] + 9],
                           outline=(0, 150, 70), width=2)
        elif letter == "B":
            sc.d.rectangle([b["x"] + 6, b["y"] - 1, b["x"] + b["w"] - 1, b["y"] + b["h"] - 7],
                           outline=(0, 150, 70), width=2)
        else:
            rect_outline(sc.d, b, (0, 150, 70))
        img.paste(sc.img, (ox, 0))
        d.text((ox + 52, 115), letter, font=font(16, GOTHIC_BOLD), fill=(20, 20, 20), anchor="mm")
    save(img, pack, "tight-box.png")

    # ex-car.png: one car and one person (practice: tight boxes)
    sc = Scene(320, 240, (186, 220, 245))
    street(sc, 320, 240)
    sc.draw("ellipse", [20, 120, 52, 152], fill=(70, 140, 70))  # a tree (not labelled)
    sc.draw("rectangle", [34, 150, 38, 172], fill=(110, 80, 50))
    sc.draw("ellipse", [46, 207, 198, 223], fill=(60, 60, 66))  # shadow (not part of the car)
    car(sc, 52, 163, 1.0, (200, 40, 40), 1)
    person(sc, 246, 110, 62, 2)
    save(sc.img, pack, "ex-car.png")
    record("ex-car.png", sc, [(1, "car"), (2, "person")])

    # ex-occlusion.png: a car partly hidden behind a truck and a lamp post
    sc = Scene(320, 240, (186, 220, 245))
    street(sc, 320, 240)
    car(sc, 130, 158, 0.9, (30, 150, 90), 1)
    truck(sc, 18, 140, 1.15, (240, 200, 60), 2)
    sc.draw("rectangle", [226, 44, 230, 236], fill=(50, 50, 55))  # lamp post in front
    sc.draw("rectangle", [216, 40, 240, 48], fill=(50, 50, 55))
    save(sc.img, pack, "ex-occlusion.png")
    record("ex-occlusion.png", sc, [(2, "truck"), (1, "car")])
    alone = Scene(320, 240, (0, 0, 0))
    car(alone, 130, 158, 0.9, (30, 150, 90), 1)
    full = alone.box(1)
    vis = sc.box(1)
    # the practice key is the visible box; an amodal (full) box must not pass at iou 0.6
    assert iou(full, vis) < 0.6, iou(full, vis)
    if not DRY_RUN:
        print(f"ex-occlusion.png: amodal car box {full}, IoU with visible box {iou(full, vis):.2f}")

    # ex-truncation.png: a car cut by the left edge, a van cut by the right edge
    sc = Scene(320, 240, (186, 220, 245))
    street(sc, 320, 240)
    car(sc, -64, 168, 1.0, (240, 240, 240), 1)
    van(sc, 214, 150, 1.1, (80, 160, 110), 2)
    save(sc.img, pack, "ex-truncation.png")
    record("ex-truncation.png", sc, [(1, "car"), (2, "van")])

    # occlusion.png (lesson): visible box vs amodal box of a person behind a wall
    sc = Scene(320, 200, (186, 220, 245))
    sc.draw("rectangle", [0, 150, 320, 200], fill=(140, 190, 120))
    person(sc, 140, 60, 120, 1, shirt=(200, 80, 40))
    sc.draw("rectangle", [60, 125, 260, 185], fill=(170, 120, 90))  # brick wall in front
    for by in range(125, 185, 12):
        sc.draw("line", [60, by, 260, by], fill=(140, 95, 70), width=1)
    vis = sc.box(1)
    rect_outline(sc.d, vis, (0, 150, 70), width=3, pad=2)
    dashed_rect(sc.d, [vis["x"] - 8, vis["y"] - 8, vis["x"] + vis["w"] + 7, 60 + 120 + 6], (120, 120, 120))
    tag(sc.d, (8, 8), "visible 보이는 부분", bg=(0, 130, 60))
    tag(sc.d, (8, 30), "amodal 전체 추정", bg=(110, 110, 110))
    save(sc.img, pack, "occlusion.png")

    # tiny-objects.png: one near person, one far person, three tiny people
    sc = Scene(320, 240, (190, 222, 245))
    sc.draw("polygon", [(0, 120), (80, 104), (180, 112), (320, 100), (320, 240), (0, 240)], fill=(120, 180, 100))
    sc.draw("polygon", [(150, 240), (190, 112), (200, 112), (250, 240)], fill=(215, 200, 160))
    person(sc, 60, 140, 72, 1)
    person(sc, 214, 130, 22, 2, shirt=(200, 60, 60))
    person(sc, 262, 104, 7, 3, shirt=(200, 160, 30))
    person(sc, 276, 103, 7, 4, shirt=(90, 40, 140))
    person(sc, 290, 102, 6, 5, shirt=(30, 120, 120))
    save(sc.img, pack, "tiny-objects.png")
    record("tiny-objects.png", sc, [(i, "person") for i in range(1, 6)])

    # crowd.png (lesson): three separate people, and a dense crowd boxed as one
    sc = Scene(320, 200, (190, 222, 245))
    sc.draw("rectangle", [0, 120, 320, 200], fill=(205, 205, 200))
    people = [(20, 90, (40, 90, 200)), (52, 96, (200, 60, 60)), (88, 88, (30, 140, 90))]
    for i, (px, py, shirt) in enumerate(people, start=1):
        person(sc, px, py, 66, i, shirt=shirt)
    shirts = [(40, 90, 200), (200, 60, 60), (30, 140, 90), (200, 160, 30), (90, 40, 140), (30, 120, 120)]
    k = 0
    for row, (ry, step) in enumerate([(100, 13), (108, 14), (116, 13)]):
        for cx in range(168 + row * 5, 300, step):
            person(sc, cx, ry, 50, 10, shirt=shirts[k % len(shirts)])
            k += 1
    for i in (1, 2, 3):
        rect_outline(sc.d, sc.box(i), (0, 150, 70), width=2)
    crowd_box = sc.box(10)
    rect_outline(sc.d, crowd_box, (230, 120, 0), width=3, pad=2)
    tag(sc.d, (8, 8), "person ×3", bg=(0, 130, 60))
    tag(sc.d, (190, 8), "crowd ×1", bg=(200, 100, 0))
    save(sc.img, pack, "crowd.png")

    # vehicles.png: 1 = truck, 2 = car, 3 = van
    sc = Scene(320, 150, (235, 238, 242))
    sc.draw("rectangle", [0, 120, 320, 150], fill=(150, 150, 155))
    truck(sc, 4, 82, 0.55, (230, 230, 230), 1, cab=(200, 60, 60))
    car(sc, 112, 92, 0.6, (60, 110, 190), 2)
    van(sc, 210, 87, 0.8, (245, 245, 245), 3)
    for oid, num in ((1, "1"), (2, "2"), (3, "3")):
        b = sc.box(oid)
        badge(sc.d, b["x"] + b["w"] // 2, b["y"] - 16, num)
    save(sc.img, pack, "vehicles.png")

    # rider.png (lesson): person on a bicycle, boxed separately
    sc = Scene(320, 220, (190, 222, 245))
    sc.draw("rectangle", [0, 190, 320, 220], fill=(92, 92, 98))
    bike = (40, 40, 40)
    for cx in (120, 206):
        sc.draw("ellipse", [cx - 26, 162, cx + 26, 214], outline=bike, width=3, oid=2)
    sc.draw("line", [(120, 188), (150, 188), (192, 152), (206, 188)], fill=(200, 40, 40), width=3, oid=2)
    sc.draw("line", [(150, 188), (140, 150), (192, 152)], fill=(200, 40, 40), width=3, oid=2)
    sc.draw("line", [(132, 150), (150, 150)], fill=bike, width=4, oid=2)   # saddle
    sc.draw("line", [(192, 152), (188, 136), (200, 134)], fill=bike, width=3, oid=2)  # handlebar
    skin, shirt, pants = (235, 190, 150), (40, 130, 90), (45, 45, 70)
    sc.draw("polygon", [(136, 148), (150, 148), (176, 100), (162, 94)], fill=shirt, oid=1)   # torso
    sc.draw("line", [(168, 104), (192, 134)], fill=shirt, width=6, oid=1)                    # arm
    sc.draw("line", [(144, 148), (168, 160), (160, 190)], fill=pants, width=7, oid=1)         # leg 1
    sc.draw("line", [(144, 148), (152, 168), (140, 196)], fill=pants, width=7, oid=1)         # leg 2
    sc.draw("ellipse", [160, 74, 182, 96], fill=skin, oid=1)                                 # head
    sc.draw("chord", [158, 70, 186, 94], 180, 360, fill=(230, 200, 40), oid=1)               # helmet
    rect_outline(sc.d, sc.box(1), (0, 150, 70), width=2, pad=2)
    rect_outline(sc.d, sc.box(2), (230, 120, 0), width=2, pad=4)
    tag(sc.d, (8, 8), "person", bg=(0, 130, 60))
    tag(sc.d, (8, 30), "bicycle", bg=(200, 100, 0))
    save(sc.img, pack, "rider.png")

    # reflection.png: 1 real person, 2 reflection in glass, 3 poster, 4 real person behind a pillar
    sc = Scene(320, 240, (225, 215, 200))
    sc.draw("rectangle", [0, 200, 320, 240], fill=(170, 165, 160))
    sc.draw("rectangle", [150, 40, 300, 200], fill=(170, 205, 225))   # shop window
    sc.draw("rectangle", [150, 40, 300, 200], outline=(90, 90, 90), width=4)
    sc.draw("line", [(160, 60), (200, 40)], fill=(215, 235, 245), width=3)
    sc.draw("rectangle", [30, 40, 100, 130], fill=(250, 250, 245), outline=(90, 90, 90), width=2)  # poster
    person(sc, 52, 56, 56, 0, shirt=(200, 60, 120))
    sc.d.text((65, 122), "SALE", font=font(11, GOTHIC_BOLD), fill=(200, 40, 40), anchor="mm")
    person(sc, 176, 112, 80, 0, shirt=(150, 185, 225), pants=(120, 140, 170), skin=(205, 200, 200))  # reflection
    person(sc, 112, 114, 84, 1, shirt=(40, 90, 200))                   # real person 1
    person(sc, 16, 146, 64, 4, shirt=(30, 140, 90))                    # real person 4 ...
    sc.draw("rectangle", [0, 136, 24, 214], fill=(140, 130, 120))      # ... half behind a pillar
    for num, (cx, cy) in {"1": (124, 102), "2": (188, 100), "3": (88, 30), "4": (48, 162)}.items():
        badge(sc.d, cx, cy, num)
    save(sc.img, pack, "reflection.png")


# ---------------------------------------------------------------- korean-ocr-basics
def paper(w, h, bg=(252, 250, 242)):
    img = Image.new("RGB", (w, h), bg)
    return img, ImageDraw.Draw(img)


def ocr_media() -> None:
    pack = "korean-ocr-basics"

    # notice-spacing.png: door notice written with non-standard spacing
    img, d = paper(320, 180, (120, 110, 100))
    d.rectangle([30, 20, 290, 160], fill=(255, 255, 255))
    d.text((160, 70), "금일휴업 합니다", font=font(30, GOTHIC_BOLD), fill=(20, 20, 20), anchor="mm")
    d.text((160, 122), "내일 오전10시 오픈", font=font(20), fill=(40, 40, 40), anchor="mm")
    save(img, pack, "notice-spacing.png")

    # spacing-gaps.png (lesson): clear gap vs no gap
    img, d = paper(320, 150)
    f = font(24, GOTHIC_BOLD)
    d.text((20, 20), "맛집 추천", font=f, fill=(20, 20, 20))
    d.text((20, 82), "맛집추천", font=f, fill=(20, 20, 20))
    for y, typed in ((30, "맛집 추천"), (92, "맛집추천")):
        d.line([176, y + 9, 196, y + 9], fill=(0, 120, 60), width=2)
        d.polygon([(198, y + 9), (191, y + 4), (191, y + 14)], fill=(0, 120, 60))
        d.text((206, y), typed, font=font(15), fill=(0, 120, 60))
    d.line([68, 58, 80, 58], fill=(220, 60, 60), width=3)
    save(img, pack, "spacing-gaps.png")

    # price-tag.png: shelf label
    img, d = paper(320, 200, (210, 210, 210))
    d.rectangle([20, 20, 300, 180], fill=(255, 250, 205), outline=(200, 170, 40), width=3)
    d.text((36, 34), "국산콩 두부 300g", font=font(22, GOTHIC_BOLD), fill=(20, 20, 20))
    d.text((36, 82), "2,480원", font=font(40, GOTHIC_BOLD), fill=(200, 30, 30))
    d.text((36, 142), "(100g당 827원)", font=font(16), fill=(60, 60, 60))
    save(img, pack, "price-tag.png")

    # receipt.png: mixed Hangul / Latin / digits, date and time
    img, d = paper(240, 240, (255, 255, 255))
    f = font(15)
    fb = font(17, GOTHIC_BOLD)
    d.text((120, 18), "GS25 역삼점", font=fb, fill=(20, 20, 20), anchor="mm")
    d.text((120, 42), "2024.03.15 14:32", font=f, fill=(20, 20, 20), anchor="mm")
    d.line([16, 60, 224, 60], fill=(120, 120, 120), width=1)
    rows = [("삼각김밥", "1,200"), ("바나나우유", "1,700"), ("KT&G 라이터", "1,000")]
    for i, (name, price) in enumerate(rows):
        y = 72 + i * 26
        d.text((20, y), name, font=f, fill=(20, 20, 20))
        d.text((220, y), price, font=f, fill=(20, 20, 20), anchor="ra")
    d.line([16, 154, 224, 154], fill=(120, 120, 120), width=1)
    d.text((20, 166), "합계", font=fb, fill=(20, 20, 20))
    d.text((220, 166), "₩3,900", font=fb, fill=(20, 20, 20), anchor="ra")
    d.text((120, 214), "감사합니다", font=f, fill=(80, 80, 80), anchor="mm")
    save(img, pack, "receipt.png")

    # smudged-sign.png: one syllable made unreadable by a stain
    img, d = paper(320, 160, (60, 70, 90))
    d.rectangle([20, 20, 300, 140], fill=(245, 245, 240))
    f = font(34, GOTHIC_BOLD)
    d.text((40, 40), "대한상회", font=f, fill=(30, 50, 120))
    d.text((40, 100), "영업시간 09:00~18:00", font=font(18), fill=(30, 30, 30))
    l, t, r, b = d.textbbox((40, 40), "대한", font=f)
    l3, t3, r3, b3 = d.textbbox((40, 40), "대한상", font=f)
    region = (r - 2, 30, r3 + 3, 90)
    patch = img.crop(region).filter(ImageFilter.GaussianBlur(7))
    img.paste(patch, region[:2])
    stain = Image.new("RGB", (region[2] - region[0], region[3] - region[1]), (150, 140, 110))
    mask = Image.new("L", stain.size, 0)
    ImageDraw.Draw(mask).ellipse([0, 4, stain.size[0] - 1, stain.size[1] - 5], fill=200)
    img.paste(stain, region[:2], mask.filter(ImageFilter.GaussianBlur(3)))
    save(img, pack, "smudged-sign.png")

    # lookalike-sign.png: apartment building number drawn with plain bars and rings (1 / l / I, 0 / O)
    img, d = paper(320, 160, (200, 200, 205))
    d.rectangle([40, 20, 280, 140], fill=(30, 80, 60))
    white = (245, 245, 245)
    d.rectangle([70, 45, 79, 115], fill=white)             # 1 (or l, or I)
    d.ellipse([92, 45, 132, 115], outline=white, width=9)    # 0 (or O)
    d.rectangle([146, 45, 155, 115], fill=white)           # 1 (or l, or I)
    d.text((216, 80), "동", font=font(62, GOTHIC_BOLD), fill=white, anchor="mm")
    save(img, pack, "lookalike-sign.png")

    # vertical-sign.png: a vertical shop sign plus a small horizontal phone number
    img, d = paper(200, 320, (180, 180, 185))
    d.rectangle([60, 10, 140, 270], fill=(250, 250, 250), outline=(30, 60, 140), width=4)
    f = font(40, GOTHIC_BOLD)
    for i, ch in enumerate("행복부동산"):
        d.text((100, 38 + i * 50), ch, font=f, fill=(30, 60, 140), anchor="mm")
    d.text((100, 296), "02-123-4567", font=font(16), fill=(20, 20, 20), anchor="mm")
    save(img, pack, "vertical-sign.png")

    # handwriting.png: sticky note with a crossed-out word
    img, d = paper(320, 200, (215, 205, 190))
    d.rectangle([30, 20, 290, 180], fill=(255, 240, 140))
    pen = font(40, PEN)
    d.text((50, 40), "3시 회의", font=pen, fill=(30, 30, 90))
    x0 = d.textbbox((50, 40), "3시 회의 ", font=pen)[2]
    d.text((x0, 40), "2층", font=pen, fill=(30, 30, 90))
    x1 = d.textbbox((x0, 40), "2층", font=pen)[2]
    d.line([x0 - 4, 64, x1 + 4, 58], fill=(30, 30, 90), width=3)
    d.line([x0 - 2, 56, x1 + 2, 66], fill=(30, 30, 90), width=3)
    d.text((x1 + 12, 40), "5층", font=pen, fill=(30, 30, 90))
    d.text((50, 108), "김 대리님께 전달!", font=pen, fill=(30, 30, 90))
    save(img, pack, "handwriting.png")


# ---------------------------------------------------------------- meeting-transcription-basics
def meeting_media() -> None:
    pack = "meeting-transcription-basics"

    # speaker-timeline.png: two speakers, one overlap
    img, d = paper(320, 170, (255, 255, 255))
    f = font(12)
    fb = font(13, GOTHIC_BOLD)
    x0, x1, t_max = 40, 292, 20.0

    def tx(t):
        return round(x0 + (x1 - x0) * t / t_max)

    for t in range(0, 21, 5):
        d.line([tx(t), 118, tx(t), 124], fill=(80, 80, 80))
        d.text((tx(t), 128), f"00:{t:02d}", font=f, fill=(80, 80, 80), anchor="ma")
    d.line([x0, 120, x1, 120], fill=(80, 80, 80))
    d.text((10, 38), "S1", font=fb, fill=(20, 20, 20))
    d.text((10, 78), "S2", font=fb, fill=(20, 20, 20))
    for a, b in ((0.5, 8.0), (14.5, 19.0)):
        d.rectangle([tx(a), 34, tx(b), 54], fill=(60, 120, 220))
    d.rectangle([tx(6.5), 74, tx(13.5), 94], fill=(230, 130, 40))
    d.rectangle([tx(6.5), 28, tx(8.0), 100], outline=(200, 30, 30), width=2)
    d.text((tx(7.25), 12), "겹침 overlap", font=fb, fill=(200, 30, 30), anchor="ma")
    d.text((160, 152), "[00:00:06] S2: [overlap] …", font=f, fill=(60, 60, 60), anchor="ma")
    save(img, pack, "speaker-timeline.png")

    # waveform-inaudible.png: speech, then a noise burst that hides words
    img, d = paper(320, 150, (250, 250, 252))
    mid = 65
    seed = 12345

    def rnd():
        nonlocal seed
        seed = (seed * 1103515245 + 12345) % (1 << 31)
        return seed / (1 << 31)

    for x in range(10, 310, 2):
        if 150 <= x < 210:
            amp, col = 12 + 40 * rnd(), (200, 60, 60)
        elif 120 <= x < 130 or 240 <= x < 248:
            amp, col = 2 * rnd(), (60, 100, 200)
        else:
            amp, col = 6 + 26 * rnd(), (60, 100, 200)
        d.line([x, mid - amp, x, mid + amp], fill=col, width=1)
    d.rectangle([150, 14, 210, 116], outline=(200, 60, 60), width=2)
    d.text((180, 124), "[inaudible]", font=font(13, GOTHIC_BOLD), fill=(200, 60, 60), anchor="ma")
    d.text((60, 124), "음성 speech", font=font(12), fill=(60, 100, 200), anchor="ma")
    d.text((180, 2), "소음 noise", font=font(11), fill=(200, 60, 60), anchor="ma")
    save(img, pack, "waveform-inaudible.png")


# ---------------------------------------------------------------- llm-eval-basics
def llm_media() -> None:
    pack = "llm-eval-basics"

    # pairwise-flow.png: the order in which to compare two answers
    img, d = paper(320, 300, (255, 255, 255))
    steps = [
        ("1", "해롭거나 차별적인가?", "Harmful or biased?"),
        ("2", "사실·지시 준수가 맞나?", "Correct and faithful?"),
        ("3", "정직한가? (모르면 모른다)", "Honest about limits?"),
        ("4", "질문을 실제로 해결하나?", "Actually helpful?"),
        ("5", "그래도 같으면: 더 명확한 쪽", "Still equal: clearer one"),
    ]
    colors = [(200, 50, 50), (220, 120, 30), (150, 110, 30), (40, 130, 80), (60, 100, 200)]
    fk = font(14, GOTHIC_BOLD)
    fe = font(11)
    for i, ((num, ko, en), col) in enumerate(zip(steps, colors)):
        y = 10 + i * 58
        d.rounded_rectangle([10, y, 310, y + 46], radius=8, fill=(248, 248, 248), outline=col, width=2)
        d.ellipse([18, y + 10, 44, y + 36], fill=col)
        d.text((31, y + 23), num, font=fk, fill=(255, 255, 255), anchor="mm")
        d.text((54, y + 7), ko, font=fk, fill=(20, 20, 20))
        d.text((54, y + 27), en, font=fe, fill=(90, 90, 90))
        if i < len(steps) - 1:
            d.polygon([(154, y + 47), (166, y + 47), (160, y + 54)], fill=(150, 150, 150))
    save(img, pack, "pairwise-flow.png")


def check_answer_keys() -> int:
    """Compare the bbox answer keys in bbox-basics/lessons/*.md with the boxes drawn here.

    `flask courses import` checks everything else about the packs; only this script knows where it
    drew each object. Run:  python courses/packs/_tools/draw_media.py --check   (exit 1 on a mismatch)
    """
    import re

    import yaml

    global DRY_RUN
    DRY_RUN = True
    bbox_media()
    problems = 0
    for lesson in sorted((PACKS / "bbox-basics" / "lessons").glob("*.md")):
        meta = yaml.safe_load(re.match(r"\A---\n(.*?)\n---\n", lesson.read_text(encoding="utf-8"), re.S).group(1))
        for block in meta.get("blocks") or []:
            question = block.get("question") or {}
            if question.get("kind") != "bbox":
                continue
            name = Path(question["media"][0]["url"]).name
            want = sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in question["answer"]["boxes"])
            have = sorted((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in BOXES.get(name, []))
            if want != have:
                problems += 1
                print(f"{lesson.name} [{question.get('key')}]: answer boxes {want} != drawn {have}")
    print("OK" if not problems else f"{problems} mismatch(es)")
    return 1 if problems else 0


def main() -> None:
    if "--check" in sys.argv[1:]:
        sys.exit(check_answer_keys())
    bbox_media()
    ocr_media()
    meeting_media()
    llm_media()
    print("\nbbox answer boxes (x, y, w, h in pixels; visible extent):")
    for name, boxes in BOXES.items():
        print(f"  {name}:")
        for b in boxes:
            print(f"    {{x: {b['x']}, y: {b['y']}, w: {b['w']}, h: {b['h']}, label: {b['label']}}}")


if __name__ == "__main__":
    main()
