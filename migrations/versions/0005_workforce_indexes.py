"""workforce analytics indexes: the workforce's ids, unrevoked certificates, completed enrollments

The workforce summary and funnel (backend/workforce/services.py) read these three sets in user-id
order and merge them, instead of hashing users, certificates and enrollments on every call
(issue #10: ≤ 500 ms at 100,000 workers / 1,000,000 submissions).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 05:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

WORKFORCE = "role = 'worker' AND deleted_at IS NULL"
UNREVOKED = "revoked_at IS NULL"
COMPLETED = "completed_at IS NOT NULL"


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_workforce', ['id', 'created_at'], unique=False,
                              postgresql_where=sa.text(WORKFORCE), sqlite_where=sa.text(WORKFORCE))

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_unrevoked', ['user_id', 'skill_code', 'expires_at', 'level'],
                              unique=False, postgresql_where=sa.text(UNREVOKED), sqlite_where=sa.text(UNREVOKED))

    with op.batch_alter_table('course_enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_course_enrollments_completed', ['user_id'], unique=False,
                              postgresql_where=sa.text(COMPLETED), sqlite_where=sa.text(COMPLETED))


def downgrade():
    with op.batch_alter_table('course_enrollments', schema=None) as batch_op:
        batch_op.drop_index('ix_course_enrollments_completed', postgresql_where=sa.text(COMPLETED),
                            sqlite_where=sa.text(COMPLETED))

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_unrevoked', postgresql_where=sa.text(UNREVOKED),
                            sqlite_where=sa.text(UNREVOKED))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_workforce', postgresql_where=sa.text(WORKFORCE), sqlite_where=sa.text(WORKFORCE))
