"""starter skills: the four skills every deployment starts with

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STARTER_SKILLS = (
    ("bbox", {"ko": "바운딩 박스", "en": "Bounding boxes"}),
    ("ocr", {"ko": "한국어 OCR 전사", "en": "Korean OCR transcription"}),
    ("audio_transcription", {"ko": "회의 음성 전사", "en": "Meeting audio transcription"}),
    ("llm_eval", {"ko": "LLM 답변 평가", "en": "LLM answer evaluation"}),
)

skills = sa.table("skills", sa.column("code", sa.String), sa.column("name", sa.JSON),
                  sa.column("max_level", sa.Integer))


def upgrade():
    existing = {row[0] for row in op.get_bind().execute(sa.select(skills.c.code))}
    rows = [{"code": code, "name": name, "max_level": 5} for code, name in STARTER_SKILLS
            if code not in existing]
    if rows:
        op.bulk_insert(skills, rows)


def downgrade():
    op.execute(skills.delete().where(skills.c.code.in_([code for code, _ in STARTER_SKILLS])))
