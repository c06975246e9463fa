"""Demo content of microtasks for `make run`: one project per starter skill (difficulty 1–3),
a few dozen tasks each with gold among them.

Images are small SVG data: URLs drawn here, so the boxes and texts of the gold answers are exact;
the audio project uses the exam clips served at /api/v1/media/quizzes/….
"""

from __future__ import annotations

import base64
import random

import sqlalchemy as sa

from backend.accounts.models import User
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Project
from backend.microtasks.schemas import ProjectCreateSchema

W, H = 320, 200


def _svg_url(body: str, width: int = W, height: int = H) -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{body}</svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _street(rng: random.Random) -> tuple[str, list[dict]]:
    """A street scene: cars, people and signs at known places (boxes in image pixels)."""
    body = [f'<rect width="{W}" height="{H}" fill="#cfe8ff"/>', f'<rect y="140" width="{W}" height="60" fill="#888"/>']
    boxes = []
    x = rng.randint(5, 30)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["car", "car", "person", "sign"])
        if kind == "car":
            w, h = rng.randint(60, 90), rng.randint(28, 36)
            y = 170 - h
            body.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h - 6}" rx="6" fill="#d33"/>'
                        f'<circle cx="{x + 12}" cy="{y + h - 6}" r="6"/><circle cx="{x + w - 12}" cy="{y + h - 6}" r="6"/>')
            boxes.append({"x": x, "y": y, "w": w, "h": h, "label": "car"})
        elif kind == "person":
            w, h = 16, rng.randint(44, 56)
            y = 165 - h
            body.append(f'<circle cx="{x + 8}" cy="{y + 8}" r="8" fill="#fc9"/>'
                        f'<rect x="{x}" y="{y + 16}" width="{w}" height="{h - 16}" fill="#36c"/>')
            boxes.append({"x": x, "y": y, "w": w, "h": h, "label": "person"})
        else:
            w, h = 30, 22
            y = rng.randint(40, 70)
            body.append(f'<rect x="{x + 13}" y="{y + h}" width="4" height="{150 - y - h}" fill="#444"/>'
                        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#2a2" stroke="#fff"/>')
            boxes.append({"x": x, "y": y, "w": w, "h": h, "label": "sign"})
        x += w + rng.randint(12, 30)
        if x > W - 95:
            break
    return _svg_url("".join(body)), boxes


SIGN_TEXTS = ["바나나 1송이 3,900원", "영업시간 09:00~22:00", "주차금지", "금일 휴업합니다", "GS25 강남역점",
              "합계 ₩14,000", "출입금지", "화장실은 2층입니다", "세일 30%", "김밥 한 줄 3,000원",
              "택배 보관함", "비상구", "엘리베이터 점검 중", "카드 결제만 가능", "오늘의 커피 2,500원"]

LLM_PAIRS = [
    ("서울의 인구는 대략 얼마인가요?", "약 940만 명입니다(2023년 기준).", "서울에는 약 2억 명이 삽니다."),
    ("Summarise: 'The meeting moved to Thursday at 3 pm.'", "The meeting is now Thursday, 3 pm.",
     "The meeting was cancelled."),
    ("물을 끓이는 온도는?", "해수면 기준 섭씨 100도입니다.", "섭씨 50도면 끓습니다."),
    ("Translate '감사합니다' into English.", "Thank you.", "Good night."),
    ("파이썬에서 리스트를 뒤집는 방법은?", "`items.reverse()` 또는 `items[::-1]`을 씁니다.", "리스트는 뒤집을 수 없습니다."),
    ("What is 12 × 12?", "144.", "124."),
    ("한국의 수도는 어디인가요?", "서울입니다.", "부산입니다."),
    ("Give one tip for a good night's sleep.", "Keep a regular bedtime and avoid screens before bed.",
     "Drink three coffees before bed."),
]

AUDIO_GOLD = {  # clip → transcript (the clips of the audio exam, served by the exams media route)
    "audio-level-1-p01.ogg": "S1: 지금부터 주간 회의를 시작하겠습니다.",
    "audio-level-1-p02.ogg": "S1: 다음 회의는 목요일 3시 30분입니다.",
    "audio-level-1-p07.ogg": "S1: 회의록은 제가 정리해서 공유할게요.",
}


def _bbox_tasks(rng):
    tasks = []
    for i in range(30):
        url, boxes = _street(rng)
        task = {"payload": {"image_url": url, "width": W, "height": H}, "external_id": f"street-{i:02d}"}
        if i % 5 == 0:
            task["gold_answer"] = {"boxes": boxes, "iou": 0.5}
            task["explanation"] = {"ko": f"박스 {len(boxes)}개: 차·사람·표지판마다 하나씩, 가장자리에 딱 맞게.",
                                   "en": f"{len(boxes)} boxes: one per car, person and sign, tight to the edges."}
        tasks.append(task)
    return tasks


def _ocr_tasks(rng):
    tasks = []
    for i in range(30):
        text = SIGN_TEXTS[i % len(SIGN_TEXTS)]
        colour = rng.choice(["#222", "#114", "#400"])
        url = _svg_url(f'<rect width="320" height="90" fill="#fff8dc" stroke="#999"/>'
                       f'<text x="160" y="56" font-size="26" text-anchor="middle" fill="{colour}" '
                       f'font-family="sans-serif">{text}</text>', 320, 90)
        task = {"payload": {"image_url": url}, "external_id": f"sign-{i:02d}"}
        if i % 5 == 0:
            task["gold_answer"] = {"text": text, "max_cer": 0.1}
            task["explanation"] = {"ko": f"보이는 그대로: “{text}”", "en": f"Exactly as written: “{text}”"}
        tasks.append(task)
    return tasks


def _audio_tasks():
    tasks = []
    for i in range(1, 10):
        name = f"audio-level-1-p{i:02d}.ogg"
        task = {"payload": {"audio_url": f"/api/v1/media/quizzes/{name}"}, "external_id": f"clip-{i:02d}"}
        if name in AUDIO_GOLD:
            task["gold_answer"] = {"text": AUDIO_GOLD[name], "max_cer": 0.15}
            task["explanation"] = {"ko": "화자 표시(S1:)와 숫자 표기를 지침대로 적었는지 확인하세요.",
                                   "en": "Check the speaker tags (S1:) and how numbers are written."}
        tasks.append(task)
    return tasks


def _rating_tasks():
    tasks = []
    for i, (prompt, good, bad) in enumerate(LLM_PAIRS * 4):
        response = good if (i // len(LLM_PAIRS)) % 2 == 0 else bad
        task = {"payload": {"prompt": prompt, "response": response}, "external_id": f"rate-{i:02d}"}
        if i in (0, 9, 18, 27):
            right = response == good
            task["gold_answer"] = {"scores": {"accuracy": 5 if right else 1, "helpfulness": 4 if right else 1},
                                   "tolerance": 1}
            task["explanation"] = {"ko": "사실 여부를 먼저 확인하세요." if not right else "정확하고 간결한 답변입니다.",
                                   "en": "Check the facts first." if not right else "Accurate and to the point."}
        tasks.append(task)
    return tasks


def _pairwise_tasks():
    tasks = []
    for i, (prompt, good, bad) in enumerate(LLM_PAIRS * 3):
        a, b, better = (good, bad, "a") if i % 2 == 0 else (bad, good, "b")
        task = {"payload": {"prompt": prompt, "a": a, "b": b}, "external_id": f"pair-{i:02d}"}
        if i % 6 == 0:
            task["gold_answer"] = {"preferred": better}
            task["explanation"] = {"ko": "사실에 맞는 답변이 더 낫습니다.", "en": "The factually correct answer is better."}
        tasks.append(task)
    return tasks


def _projects(rng):
    return [
        ({"key": "demo-street-boxes", "title": {"ko": "거리 사진 박스 그리기", "en": "Box cars, people and signs"},
          "skill": "bbox", "task_type": "bbox", "config": {"labels": ["car", "person", "sign"]}, "difficulty": 1,
          "reward": {"amount": 60}, "overlap": 3, "lease_seconds": 600, "gold_ratio": 0.15, "priority": 1,
          "instructions": {"ko": "## 지침\n- 자동차·사람·표지판마다 **딱 맞는** 박스를 그립니다.\n- 나무와 건물은 그리지 않습니다.",
                           "en": "## Guide\n- Draw one **tight** box per car, person and sign.\n"
                                 "- Do not box trees or buildings."}},
         _bbox_tasks(rng)),
        ({"key": "demo-sign-ocr", "title": {"ko": "간판·가격표 글자 전사", "en": "Transcribe signs and price tags"},
          "skill": "ocr", "task_type": "transcription", "config": {}, "difficulty": 1,
          "reward": {"amount": 40}, "overlap": 2, "lease_seconds": 300, "gold_ratio": 0.15,
          "instructions": {"ko": "## 지침\n이미지의 글자를 **보이는 그대로** 입력합니다. 띄어쓰기와 기호도 그대로 옮깁니다.",
                           "en": "## Guide\nType the text **exactly as shown**, spacing and symbols included."}},
         _ocr_tasks(rng)),
        ({"key": "demo-meeting-audio", "title": {"ko": "회의 음성 전사", "en": "Transcribe meeting clips"},
          "skill": "audio_transcription", "task_type": "transcription", "config": {}, "difficulty": 2,
          "reward": {"amount": 150}, "overlap": 2, "lease_seconds": 900, "gold_ratio": 0.2,
          "instructions": {"ko": "## 지침\n- 화자마다 `S1:`, `S2:`를 붙입니다.\n- 들리지 않는 부분은 `[inaudible]`.",
                           "en": "## Guide\n- Prefix each speaker with `S1:`, `S2:`.\n"
                                 "- Write `[inaudible]` for what you cannot hear."}},
         _audio_tasks()),
        ({"key": "demo-llm-rating", "title": {"ko": "LLM 답변 평가", "en": "Rate LLM answers"},
          "skill": "llm_eval", "task_type": "rating",
          "config": {"dimensions": ["accuracy", "helpfulness"], "scale": [1, 5]}, "difficulty": 2,
          "reward": {"amount": 120}, "overlap": 3, "lease_seconds": 600, "gold_ratio": 0.1,
          "instructions": {"ko": "## 지침\n정확성과 유용성을 각각 1~5점으로 평가합니다.",
                           "en": "## Guide\nScore accuracy and helpfulness from 1 to 5."}},
         _rating_tasks()),
        ({"key": "demo-llm-pairwise", "title": {"ko": "두 답변 중 더 나은 것 고르기", "en": "Pick the better answer"},
          "skill": "llm_eval", "task_type": "pairwise", "config": {}, "difficulty": 3,
          "reward": {"amount": 100}, "overlap": 3, "lease_seconds": 600, "gold_ratio": 0.15, "priority": 2,
          "instructions": {"ko": "## 지침\n질문에 더 정확하고 도움이 되는 답변을 고릅니다.",
                           "en": "## Guide\nPick the answer that is more accurate and helpful."}},
         _pairwise_tasks()),
    ]


def seed() -> None:
    """Load the demo content of this domain (idempotent: projects are found by their key)."""
    rng = random.Random(20261127)
    manager_id = db.session.execute(sa.select(User.id).where(User.role == "manager").order_by(User.id)).scalar()
    existing = set(db.session.execute(sa.select(Project.key).where(Project.key.like("demo-%"))).scalars())
    for body, tasks in _projects(rng):
        if body["key"] in existing:
            continue
        project = microtasks.create_project(ProjectCreateSchema().load(body), actor_id=manager_id)
        result = microtasks.import_tasks(project.id, microtasks.records_from_list(tasks))
        if result["rejected_count"]:
            raise RuntimeError(f"demo tasks of {body['key']} rejected: {result['rejected'][:3]}")
