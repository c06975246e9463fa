"""Demo collection projects for `make run`: photograph Korean street signs, read sentences aloud."""

from __future__ import annotations

import sqlalchemy as sa

from backend.accounts.models import User
from backend.extensions import db
from backend.microtasks import services as microtasks
from backend.microtasks.models import Project
from backend.microtasks.schemas import ProjectCreateSchema

CONSENT = {
    "version": "2026-11",
    "text": {
        "ko": "제가 찍거나 녹음한 파일을 LabelPath와 고객사가 AI 학습 데이터로 사용하는 데 동의합니다. "
              "파일의 위치 정보와 원래 파일 이름은 저장 전에 삭제됩니다.",
        "en": "I agree that LabelPath and its customer use the files I took or recorded as AI training "
              "data. Location data and original file names are removed before storage.",
    },
}

SIGNS = [
    ({"ko": "버스 정류장 표지판", "en": "a bus stop sign"}),
    ({"ko": "지하철역 출구 번호 표지판", "en": "a subway exit number sign"}),
    ({"ko": "도로명 주소 표지판 (파란색)", "en": "a blue road-name address sign"}),
    ({"ko": "어린이 보호구역 표지판", "en": "a school zone sign"}),
    ({"ko": "가게 간판 (한글이 보이게)", "en": "a shop sign with Hangul on it"}),
    ({"ko": "주차 금지 표지판", "en": "a no-parking sign"}),
]
SENTENCES = [
    "오늘 회의는 오후 세 시에 시작합니다.",
    "다음 역은 시청, 시청역입니다.",
    "주문하신 커피 나왔습니다.",
    "내일은 전국에 비가 오겠습니다.",
    "택배는 문 앞에 놓아 주세요.",
    "이번 주말에 부산으로 여행을 갑니다.",
]


def _projects() -> list[tuple[dict, list[dict]]]:
    photos = {
        "key": "demo-street-sign-photos",
        "title": {"ko": "한국 도로 표지판 사진 찍기", "en": "Photograph a Korean street sign"},
        "skill": "ocr", "task_type": "collection", "difficulty": 1, "reward": {"amount": 300},
        "overlap": 5, "lease_seconds": 1800, "gold_ratio": 0.0,
        "config": {"media": "image", "formats": ["jpeg", "png"], "max_bytes": 15 * 1024 * 1024,
                   "min_width": 1024, "min_height": 768, "min_files": 1, "max_files": 1,
                   "prompt": {"ko": "글자가 또렷하게 보이도록 표지판 전체를 찍어 주세요.",
                              "en": "Take the whole sign, with its text sharp and readable."},
                   "consent": CONSENT},
        "instructions": {"ko": "## 지침\n- 표지판이 화면의 절반 이상을 차지하게 찍습니다.\n"
                               "- 사람 얼굴과 자동차 번호판이 나오지 않게 합니다.\n- 같은 사진을 두 번 보내지 않습니다.",
                         "en": "## Guide\n- The sign fills at least half of the photo.\n"
                               "- Keep faces and number plates out.\n- Never send the same photo twice."},
    }
    voices = {
        "key": "demo-read-aloud",
        "title": {"ko": "문장 읽고 녹음하기", "en": "Read a sentence aloud"},
        "skill": "audio_transcription", "task_type": "collection", "difficulty": 1, "reward": {"amount": 200},
        "overlap": 5, "lease_seconds": 900, "gold_ratio": 0.0,
        "config": {"media": "audio", "formats": ["wav", "ogg", "m4a"], "max_bytes": 5 * 1024 * 1024,
                   "min_duration_s": 1.5, "max_duration_s": 15, "min_files": 1, "max_files": 1,
                   "prompt": {"ko": "조용한 곳에서 문장을 또박또박 읽어 주세요.",
                              "en": "Read the sentence clearly, somewhere quiet."},
                   "consent": CONSENT},
        "instructions": {"ko": "## 지침\n화면의 문장을 한 번, 자연스러운 속도로 읽습니다.",
                         "en": "## Guide\nRead the sentence on screen once, at a natural pace."},
    }
    return [
        (photos, [{"payload": {"prompt": sign}, "external_id": f"sign-{i}"} for i, sign in enumerate(SIGNS)]),
        (voices, [{"payload": {"prompt": sentence}, "external_id": f"sentence-{i}"}
                  for i, sentence in enumerate(SENTENCES)]),
    ]


def seed() -> None:
    """The demo collection projects (idempotent: found by their key)."""
    manager_id = db.session.execute(sa.select(User.id).where(User.role == "manager").order_by(User.id)).scalar()
    for body, tasks in _projects():
        if db.session.execute(sa.select(Project.id).where(Project.key == body["key"])).scalar() is not None:
            continue
        project = microtasks.create_project(ProjectCreateSchema().load(body), actor_id=manager_id)
        result = microtasks.import_tasks(project.id, microtasks.records_from_list(tasks))
        if result["rejected_count"]:
            raise RuntimeError(f"demo tasks of {body['key']} rejected: {result['rejected'][:3]}")
