"""Request and response shapes of review, appeals, pauses and level rules (staff and workers)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, post_load, validate

from backend.i18n import CleanString, LocalizedText
from backend.quality.review import REASONS
from backend.schemas import PageArgs, Timestamp, page_of

APPEAL_STATUS_FILTER = ("open", "upheld", "overturned", "all")
ID = validate.Range(min=1, max=2**31 - 1)


# ------------------------------------------------------------------------------ review queue


class ReviewQueueArgs(PageArgs):
    project_id = fields.Integer(load_default=None, validate=ID)
    user_id = fields.Integer(load_default=None, validate=ID, metadata={"description": "the worker"})


class ReviewTaskSchema(ma.Schema):
    id = fields.Integer(required=True)
    type = fields.String(required=True)
    payload = fields.Dict(required=True)


class WorkerStatsSchema(ma.Schema):
    answers = fields.Integer(required=True, metadata={"description": "the worker's answers in this project"})
    gold_answers = fields.Integer(required=True)
    gold_accuracy = fields.Float(allow_none=True, required=True)
    fast_answers = fields.Integer(required=True)


class ReviewQueueItemSchema(ma.Schema):
    submission_id = fields.Integer(required=True)
    project_id = fields.Integer(required=True)
    project_title = LocalizedText(required=True)
    skill = fields.String(required=True)
    task_type = fields.String(required=True)
    worker_id = fields.Integer(required=True)
    task = fields.Nested(ReviewTaskSchema, required=True)
    config = fields.Dict(required=True, metadata={"description": "the project's labels, dimensions, …"})
    instructions = LocalizedText(allow_none=True, required=True)
    answer = fields.Dict(required=True)
    duration_ms = fields.Integer(allow_none=True, required=True)
    late = fields.Boolean(required=True)
    submitted_at = Timestamp(required=True)
    due_at = Timestamp(required=True, metadata={"description": "approved automatically from then on"})
    sample_reasons = fields.List(fields.String(), required=True,
                                 metadata={"description": "why it was picked: new_worker, low_accuracy, fast, random"})
    media_url = fields.String(allow_none=True, required=True,
                              metadata={"description": "collection tasks: GET it for signed media links"})
    worker_stats = fields.Nested(WorkerStatsSchema, required=True)


ReviewQueuePageSchema = page_of(ReviewQueueItemSchema)


class ReviewDecisionSchema(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    reason_code = fields.String(validate=validate.OneOf(tuple(REASONS)), load_default=None,
                                metadata={"description": "GET /manage/review-reasons; required to reject"})
    reason = CleanString(validate=validate.Length(max=1000), load_default=None,
                         metadata={"description": "a catalogue code, or free text (then reason_code other)"})
    note = CleanString(validate=validate.Length(max=1000), load_default=None,
                       metadata={"description": "free text for the worker (required with `other`)"})

    @post_load
    def _reason_alias(self, data, **_):
        """The contract's {decision, reason}: a catalogue code, or free text filed under `other`."""
        reason = data.pop("reason", None)
        if reason and data.get("reason_code") is None:
            if reason in REASONS:
                data["reason_code"] = reason
            else:
                data["reason_code"] = "other"
                data["note"] = f"{reason} — {data['note']}" if data.get("note") else reason
        return data


class AppealSchema(ma.Schema):
    id = fields.Integer(required=True)
    review_id = fields.Integer(required=True)
    submission_id = fields.Integer(required=True)
    worker_id = fields.Integer(required=True)
    message = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open | upheld | overturned"})
    created_at = Timestamp(required=True)
    decided_at = Timestamp(allow_none=True, required=True)
    decided_by = fields.Integer(allow_none=True, required=True)
    decision_note = fields.String(allow_none=True, required=True)


class ReviewSchema(ma.Schema):
    id = fields.Integer(required=True)
    submission_id = fields.Integer(required=True)
    worker_id = fields.Integer(required=True)
    project_id = fields.Integer(required=True)
    reviewer_id = fields.Integer(allow_none=True, required=True)
    auto = fields.Boolean(required=True)
    decision = fields.String(required=True, metadata={"description": "approved | rejected"})
    reason_code = fields.String(allow_none=True, required=True)
    reason = LocalizedText(allow_none=True, required=True, metadata={"description": "what the worker reads"})
    note = fields.String(allow_none=True, required=True)
    decided_at = Timestamp(required=True)
    appeal_until = Timestamp(allow_none=True, required=True)
    final = fields.Boolean(required=True)
    outcome = fields.String(allow_none=True, required=True, metadata={"description": "once final"})
    final_at = Timestamp(allow_none=True, required=True)
    can_appeal = fields.Boolean(required=True)
    appeal = fields.Nested(AppealSchema, allow_none=True, required=True)


class ReasonSchema(ma.Schema):
    code = fields.String(required=True)
    text = LocalizedText(required=True)
    note_required = fields.Boolean(required=True)


class ReasonListSchema(ma.Schema):
    items = fields.List(fields.Nested(ReasonSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


# ------------------------------------------------------------------------------ appeals


class AppealListArgs(PageArgs):
    status = fields.String(load_default="open", validate=validate.OneOf(APPEAL_STATUS_FILTER))
    include_own = fields.Boolean(load_default=False,
                                 metadata={"description": "also appeals of rejections you made (not yours to decide)"})


class ReviewBriefSchema(ma.Schema):
    id = fields.Integer(required=True)
    reviewer_id = fields.Integer(allow_none=True, required=True)
    decision = fields.String(required=True)
    reason_code = fields.String(allow_none=True, required=True)
    reason = LocalizedText(allow_none=True, required=True)
    note = fields.String(allow_none=True, required=True)
    decided_at = Timestamp(required=True)


class AppealItemSchema(AppealSchema):
    project_id = fields.Integer(required=True)
    project_title = LocalizedText(required=True)
    task_type = fields.String(required=True)
    task = fields.Nested(ReviewTaskSchema, required=True)
    config = fields.Dict(required=True)
    instructions = LocalizedText(allow_none=True, required=True)
    answer = fields.Dict(required=True)
    media_url = fields.String(allow_none=True, required=True)
    review = fields.Nested(ReviewBriefSchema, required=True)
    can_decide = fields.Boolean(required=True, metadata={"description": "false for your own rejections"})


AppealPageSchema = page_of(AppealItemSchema)


class AppealDecisionSchema(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("uphold", "overturn")))
    note = CleanString(validate=validate.Length(max=1000), load_default=None)


class AppealCreateSchema(ma.Schema):
    message = CleanString(required=True, validate=validate.Length(min=1, max=2000),
                          metadata={"description": "why the rejection is wrong"})


class MyReviewSchema(ReviewSchema):
    project_title = LocalizedText(required=True)


MyReviewPageSchema = page_of(MyReviewSchema)


# ------------------------------------------------------------------------------ level rules


class LevelRuleSchema(ma.Schema):
    skill = fields.String(required=True)
    level = fields.Integer(required=True, metadata={"description": "the rule governs workers at this level"})
    min_gold = fields.Integer(required=True)
    promote_at = fields.Float(allow_none=True, required=True)
    demote_below = fields.Float(allow_none=True, required=True)
    window = fields.Integer(required=True)
    requires_exam = fields.String(allow_none=True, required=True)
    source = fields.String(required=True, metadata={"description": "default | custom"})
    updated_at = Timestamp(allow_none=True, required=True)


class LevelRuleListSchema(ma.Schema):
    items = fields.List(fields.Nested(LevelRuleSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class LevelRuleArgs(ma.Schema):
    skill = fields.String(load_default=None)


class LevelRuleUpdateSchema(ma.Schema):
    min_gold = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=100_000),
                              metadata={"description": "gold answers at this level before a promotion"})
    promote_at = fields.Float(allow_nan=False, allow_none=True, required=True,
                              metadata={"description": "Wilson lower bound needed for level + 1 (null: never)"})
    demote_below = fields.Float(allow_nan=False, allow_none=True, required=True,
                                metadata={"description": "Wilson upper bound over `window` that demotes (null: never)"})
    window = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=200))
    requires_exam = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=80),
                                  metadata={"description": "exam key: level + 1 only by passing it"})
    reason = CleanString(validate=validate.Length(max=500), load_default=None)


# ------------------------------------------------------------------------------ pauses


class WayBackSchema(ma.Schema):
    kind = fields.String(required=True, metadata={"description": "retraining | manager"})
    course = fields.String(metadata={"description": "retraining: the course slug"})
    course_title = LocalizedText()
    examples = fields.List(fields.String(), metadata={"description": "practice example keys to answer right"})
    remaining = fields.List(fields.String())


class PauseSchema(ma.Schema):
    id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    project_id = fields.Integer(required=True)
    project_title = LocalizedText(allow_none=True, required=True)
    skill = fields.String(required=True)
    cause = fields.String(required=True, metadata={"description": "accuracy_floor | fast_submit"})
    reason = LocalizedText(required=True)
    detail = fields.Dict(allow_none=True, required=True)
    way_back = fields.Nested(WayBackSchema, required=True)
    paused_at = Timestamp(required=True)
    lifted_at = Timestamp(allow_none=True, required=True)
    lifted_by = fields.Integer(allow_none=True, required=True)
    lift_reason = fields.String(allow_none=True, required=True)
    active = fields.Boolean(required=True)


PausePageSchema = page_of(PauseSchema)


class PauseListArgs(PageArgs):
    active = fields.Boolean(load_default=None)
    user_id = fields.Integer(load_default=None, validate=ID)
    project_id = fields.Integer(load_default=None, validate=ID)


class PauseLiftSchema(ma.Schema):
    reason = CleanString(required=True, validate=validate.Length(min=1, max=450))


class RetrainingAnswerSchema(ma.Schema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=200),
                        metadata={"description": "a practice example key from way_back.examples"})
    answer = fields.Dict(required=True, metadata={"description": "the question kind's answer shape"})


class RetrainingResultSchema(ma.Schema):
    correct = fields.Boolean(required=True)
    explanation = LocalizedText(allow_none=True, required=True)
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    remaining = fields.List(fields.String(), required=True)
    lifted = fields.Boolean(required=True)
    also_lifted = fields.List(fields.Integer(), required=True,
                              metadata={"description": "projects of other pauses the same retraining lifted"})
    pause = fields.Nested(PauseSchema, required=True)
