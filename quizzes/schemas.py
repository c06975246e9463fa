"""Schemas of certification: the worker's exams, attempts and certificates; the manager's exams.

Nothing a worker receives before grading carries an answer key or an explanation: the worker
schemas below simply have no such fields (and results carry explanations, never keys).
"""

from marshmallow import Schema, fields, validate

from backend.i18n import CleanString, LocalizedText
from backend.schemas import Timestamp
from quizzes.documents import ExamDocumentSchema  # noqa: F401 - the manager's exam payload

CERTIFICATE_STATUSES = ("valid", "expired", "revoked")
UNAVAILABLE_REASONS = ("attempt_open", "course_required", "level_required", "already_certified",
                       "no_attempts_left", "cooldown")


class RequiresOutSchema(Schema):
    course = fields.String(allow_none=True, required=True)
    skill_level = fields.Integer(required=True)


class CertificateBriefSchema(Schema):
    code = fields.String(required=True, metadata={"description": "XXXX-XXXX-XXXX, verifiable at "
                                                                 "GET /api/v1/certificates/{code}"})
    skill = fields.String(required=True)
    level = fields.Integer(required=True)
    issued_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CERTIFICATE_STATUSES))


class ExamItemSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    title = LocalizedText(required=True)
    description = LocalizedText(allow_none=True)
    skill = fields.String(required=True)
    grants_level = fields.Integer(required=True)
    requires = fields.Nested(RequiresOutSchema, required=True)
    question_count = fields.Integer(required=True, metadata={"description": "questions in one attempt"})
    time_limit_s = fields.Integer(required=True)
    pass_percent = fields.Integer(required=True)
    validity_days = fields.Integer(required=True)
    attempts_used = fields.Integer(required=True, metadata={"description": "attempts since the last pass"})
    attempts_allowed = fields.Integer(required=True)
    available = fields.Boolean(required=True)
    unavailable_reason = fields.String(allow_none=True, required=True,
                                       validate=validate.OneOf(UNAVAILABLE_REASONS))
    retake_at = Timestamp(allow_none=True, required=True, metadata={"description": "after a failed "
                                                                    "attempt: when a retake opens"})
    open_attempt_id = fields.Integer(allow_none=True, required=True)
    certificate = fields.Nested(CertificateBriefSchema, allow_none=True, required=True,
                                metadata={"description": "the worker's valid certificate from this exam"})


class ExamListSchema(Schema):
    items = fields.List(fields.Nested(ExamItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class MediaOutSchema(Schema):
    kind = fields.String(required=True)
    url = fields.String(required=True)


class OptionOutSchema(Schema):
    id = fields.String(required=True)
    text = LocalizedText(required=True)


class AttemptQuestionSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    prompt = LocalizedText(required=True)
    media = fields.List(fields.Nested(MediaOutSchema), required=True)
    options = fields.List(fields.Nested(OptionOutSchema), required=True,
                          metadata={"description": "in this attempt's order"})
    dimensions = fields.List(fields.String(), metadata={"description": "rating questions: what to score"})
    points = fields.Integer(required=True)
    answer = fields.Dict(allow_none=True, required=True, metadata={"description": "your saved answer"})
    answered_at = Timestamp(allow_none=True, required=True)


class QuestionResultSchema(Schema):
    id = fields.Integer(required=True)
    correct = fields.Boolean(required=True)
    credit = fields.Float(required=True, metadata={"description": "share of the points earned, 0..1"})
    points = fields.Integer(required=True)
    earned = fields.Float(required=True)
    explanation = LocalizedText(allow_none=True, required=True)


class ResultSchema(Schema):
    attempt_id = fields.Integer(required=True)
    exam_id = fields.Integer(required=True)
    score = fields.Float(required=True)
    max_score = fields.Integer(required=True)
    percent = fields.Float(required=True)
    passed = fields.Boolean(required=True)
    pass_percent = fields.Integer(required=True)
    closed_reason = fields.String(required=True, validate=validate.OneOf(("submitted", "deadline")))
    graded_at = Timestamp(required=True)
    certificate = fields.Nested(CertificateBriefSchema, metadata={"description": "when passed"})
    retake_at = Timestamp(allow_none=True, metadata={"description": "when failed: when a retake opens; "
                                                     "null when no attempts are left"})
    attempts_left = fields.Integer(metadata={"description": "when failed"})
    questions = fields.List(fields.Nested(QuestionResultSchema), required=True)


class AttemptSchema(Schema):
    id = fields.Integer(required=True)
    exam_id = fields.Integer(required=True)
    exam_title = LocalizedText(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("open", "graded")))
    started_at = Timestamp(required=True)
    deadline = Timestamp(required=True)
    time_limit_s = fields.Integer(required=True)
    closed_at = Timestamp(allow_none=True, required=True)
    closed_reason = fields.String(allow_none=True, required=True)
    questions = fields.List(fields.Nested(AttemptQuestionSchema), required=True)
    result = fields.Nested(ResultSchema, allow_none=True, required=True)


class AnswerInSchema(Schema):
    answer = fields.Raw(required=True, metadata={"description": "the reply in the shape of the question's "
                                                 "kind (../shared/docs/API.md, Payloads)"})


class SavedAnswerSchema(Schema):
    question_id = fields.Integer(required=True)
    answer = fields.Dict(required=True)
    answered_at = Timestamp(required=True)


class SubmissionSchema(Schema):
    answers = fields.Dict(keys=fields.String(validate=validate.Length(max=20)), values=fields.Raw(),
                          load_default=None, validate=validate.Length(max=500),
                          metadata={"description": "question id → answer, saved before grading"})


class MyCertificateSchema(CertificateBriefSchema):
    exam_id = fields.Integer(required=True)
    exam_title = LocalizedText(required=True)
    revoked_at = Timestamp(allow_none=True, required=True)


class MyCertificateListSchema(Schema):
    items = fields.List(fields.Nested(MyCertificateSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CertificateVerificationSchema(CertificateBriefSchema):
    holder = fields.String(allow_none=True, required=True, metadata={"description": "display name"})
    skill_name = LocalizedText(required=True)
    exam_title = LocalizedText(required=True)
    revoked_at = Timestamp(allow_none=True, required=True)


# ------------------------------------------------------------------------------------- manager

class ManagerQuestionSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    kind = fields.String(required=True)
    prompt = fields.Raw(required=True)
    media = fields.List(fields.Nested(MediaOutSchema), required=True)
    options = fields.List(fields.Raw(), required=True)
    answer = fields.Dict(required=True, metadata={"description": "the answer key"})
    points = fields.Integer(required=True)
    explanation = fields.Raw(allow_none=True, required=True)
    pool = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)


class DrawOutSchema(Schema):
    pool = fields.String(required=True)
    count = fields.Integer(required=True)


class ManagerExamSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    title = fields.Raw(required=True, metadata={"description": "{ko, en}"})
    description = fields.Raw(allow_none=True, required=True)
    skill = fields.String(required=True)
    grants_level = fields.Integer(required=True)
    requires = fields.Nested(RequiresOutSchema, required=True)
    time_limit_s = fields.Integer(required=True)
    pass_percent = fields.Integer(required=True)
    attempts_allowed = fields.Integer(required=True)
    retake_cooldown_s = fields.Integer(required=True)
    validity_days = fields.Integer(required=True)
    draw = fields.List(fields.Nested(DrawOutSchema), allow_none=True, required=True)
    published = fields.Boolean(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("api", "bank")))
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    questions = fields.List(fields.Nested(ManagerQuestionSchema), required=True)


class ManagerExamItemSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    title = fields.Raw(required=True)
    skill = fields.String(required=True)
    grants_level = fields.Integer(required=True)
    published = fields.Boolean(required=True)
    source = fields.String(required=True)
    question_count = fields.Integer(required=True)
    updated_at = Timestamp(required=True)


class ManagerExamListSchema(Schema):
    items = fields.List(fields.Nested(ManagerExamItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ScoreBinSchema(Schema):
    from_ = fields.Integer(required=True, data_key="from", attribute="from")
    to = fields.Integer(required=True)
    count = fields.Integer(required=True)


class ItemStatsSchema(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    kind = fields.String(required=True)
    pool = fields.String(required=True)
    active = fields.Boolean(required=True)
    responses = fields.Integer(required=True, metadata={"description": "graded attempts that drew it"})
    share_correct = fields.Float(allow_none=True, required=True)
    mean_credit = fields.Float(allow_none=True, required=True)
    discrimination = fields.Float(allow_none=True, required=True, metadata={
        "description": "point-biserial correlation of answering right with the rest of the score"})
    flags = fields.List(fields.String(validate=validate.OneOf(
        ("negative_discrimination", "nearly_everyone_wrong"))), required=True)


class ExamStatsSchema(Schema):
    exam_id = fields.Integer(required=True)
    attempts = fields.Integer(required=True, metadata={"description": "graded attempts"})
    open_attempts = fields.Integer(required=True)
    passed = fields.Integer(required=True)
    pass_rate = fields.Float(allow_none=True, required=True)
    mean_percent = fields.Float(allow_none=True, required=True)
    distribution = fields.List(fields.Nested(ScoreBinSchema), required=True,
                               metadata={"description": "graded attempts per 10-percent band"})
    questions = fields.List(fields.Nested(ItemStatsSchema), required=True)


class RevocationSchema(Schema):
    reason = CleanString(required=True, validate=validate.Length(min=1, max=500))


class RevokedCertificateSchema(CertificateVerificationSchema):
    user_id = fields.Integer(required=True)
    revoke_reason = fields.String(allow_none=True, required=True)
