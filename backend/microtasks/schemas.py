"""Request and response shapes of the micro-task endpoints (worker and manager).

No worker-facing schema has a gold answer field: what a phone sees of a gold task is exactly what
it sees of any other task.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from backend.i18n import LocalizedText
from backend.microtasks.models import ASSIGNMENT_STATUSES, PROJECT_STATUSES
from backend.microtasks.services.task_types import TASK_TYPES
from backend.schemas import MoneySchema, PageArgs, Timestamp

MAX_REWARD = 1_000_000_000


# ------------------------------------------------------------------------------ manager


class RewardInSchema(ma.Schema):
    amount = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=MAX_REWARD),
                            metadata={"description": "minor units per accepted answer (KRW: won)"})
    currency = fields.String(validate=validate.Length(equal=3),
                             metadata={"description": "defaults to the deployment's currency"})


def _project_fields(required: bool) -> dict:
    """The project fields; required/defaulted for creation, all optional for PATCH."""

    def opt(default):
        return {"load_default": default} if required else {}

    return {
        "key": fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,79}$"), allow_none=True,
                             metadata={"description": "optional stable name (lowercase, digits, -)"}),
        "title": LocalizedText(max_length=200, required=required),
        "skill": fields.String(required=required, validate=validate.Length(min=1, max=40)),
        "task_type": fields.String(required=required, validate=validate.OneOf(TASK_TYPES)),
        "config": fields.Dict(**opt(dict), metadata={"description": "see the task types table"}),
        "difficulty": fields.Integer(strict=True, required=required, validate=validate.Range(min=1, max=5)),
        "reward": fields.Nested(RewardInSchema, required=required),
        "overlap": fields.Integer(strict=True, validate=validate.Range(min=1, max=100), **opt(1),
                                  metadata={"description": "answers wanted per task"}),
        # Dynamic overlap: max_overlap and confidence_target together (null both to switch it off).
        "min_overlap": fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=2, max=100),
                                      metadata={"description": "dynamic overlap: answers every task gets "
                                                               "first (defaults to overlap; sets overlap)"}),
        "max_overlap": fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=2, max=100),
                                      metadata={"description": "dynamic overlap: most answers a task may get"}),
        "confidence_target": fields.Float(allow_none=True, allow_nan=False,
                                          validate=validate.Range(min=0, max=1, min_inclusive=False),
                                          metadata={"description": "dynamic overlap: a task stops once its "
                                                                   "aggregated result is this confident"}),
        "lease_seconds": fields.Integer(strict=True, validate=validate.Range(min=30, max=86_400), **opt(600)),
        "gold_ratio": fields.Float(allow_nan=False, validate=validate.Range(min=0, max=0.5), **opt(0.0),
                                   metadata={"description": "share of gold tasks mixed into leases"}),
        "priority": fields.Integer(strict=True, validate=validate.Range(min=-1000, max=1000), **opt(0)),
        "instructions": LocalizedText(max_length=20_000, allow_none=True, **opt(None),
                                      metadata={"description": "Markdown, ko/en"}),
        "status": fields.String(validate=validate.OneOf(PROJECT_STATUSES), **opt("active")),
        "sensitive_content": fields.Boolean(**opt(False),
                                            metadata={"description": "offered only to workers who opted in"}),
    }


ProjectCreateSchema = ma.Schema.from_dict(_project_fields(True), name="ProjectCreateSchema")
ProjectUpdateSchema = ma.Schema.from_dict(_project_fields(False), name="ProjectUpdateSchema")


class ProjectSchema(ma.Schema):
    id = fields.Integer(required=True)
    key = fields.String(allow_none=True, required=True)
    title = fields.Dict(required=True, metadata={"description": "{ko, en}"})
    skill = fields.String(required=True)
    task_type = fields.String(required=True)
    config = fields.Dict(required=True)
    difficulty = fields.Integer(required=True)
    reward = fields.Nested(MoneySchema, required=True)
    overlap = fields.Integer(required=True)
    min_overlap = fields.Integer(allow_none=True, required=True)
    max_overlap = fields.Integer(allow_none=True, required=True)
    confidence_target = fields.Float(allow_none=True, required=True)
    lease_seconds = fields.Integer(required=True)
    gold_ratio = fields.Float(required=True)
    priority = fields.Integer(required=True)
    instructions = fields.Dict(allow_none=True, required=True)
    status = fields.String(required=True)
    sensitive_content = fields.Boolean(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class ProjectListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(PROJECT_STATUSES))


class ProjectPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ProjectSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class RejectedLineSchema(ma.Schema):
    line = fields.Integer(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)


class ImportResultSchema(ma.Schema):
    created = fields.Integer(required=True)
    rejected = fields.List(fields.Nested(RejectedLineSchema), required=True,
                           metadata={"description": "the first 1,000 rejected lines"})
    rejected_count = fields.Integer(required=True)


class ProgressSchema(ma.Schema):
    project_id = fields.Integer(required=True)
    status = fields.String(required=True)
    overlap = fields.Integer(required=True)
    tasks_total = fields.Integer(required=True, metadata={"description": "normal (non-gold) tasks"})
    gold_tasks = fields.Integer(required=True)
    tasks_done = fields.Integer(required=True, metadata={"description": "tasks with `overlap` answers"})
    open_slots = fields.Integer(required=True)
    open_leases = fields.Integer(required=True)
    answers = fields.Integer(required=True)
    gold_answers = fields.Integer(required=True)
    gold_correct = fields.Integer(required=True)
    gold_accuracy = fields.Float(allow_none=True, required=True)
    answers_last_24h = fields.Integer(required=True, metadata={"description": "normal answers"})
    answers_per_hour = fields.Float(required=True, metadata={"description": "normal answers an hour, over the "
                                                                            "last 24 hours"})
    remaining_answers = fields.Integer(required=True, metadata={"description": "answers still wanted"})
    eta = Timestamp(allow_none=True, required=True,
                    metadata={"description": "when the remaining answers are in at the current rate"})
    eligible_workers = fields.Integer(required=True,
                                      metadata={"description": "workers whose level reaches the difficulty"})


# ------------------------------------------------------------------------------ worker


class WorkerProjectSchema(ma.Schema):
    id = fields.Integer(required=True)
    title = LocalizedText(required=True)
    skill = fields.String(required=True)
    task_type = fields.String(required=True)
    difficulty = fields.Integer(required=True)
    reward = fields.Nested(MoneySchema, required=True)
    open_tasks = fields.Integer(required=True, metadata={"description": "counted up to 10,000"})
    locked = fields.Boolean(required=True)
    locked_reason = LocalizedText(allow_none=True, required=True)
    instructions = LocalizedText(allow_none=True, required=True)
    sensitive_content = fields.Boolean(required=True)
    lease_seconds = fields.Integer(required=True)


class WorkerProjectListSchema(ma.Schema):
    items = fields.List(fields.Nested(WorkerProjectSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class LeaseRequestSchema(ma.Schema):
    project_id = fields.Integer(strict=True, allow_none=True, load_default=None,
                                validate=validate.Range(min=1, max=2**31 - 1))  # an id column holds no more
    count = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=20))


class TaskViewSchema(ma.Schema):
    id = fields.Integer(required=True)
    type = fields.String(required=True)
    payload = fields.Dict(required=True)


class AssignmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    project_id = fields.Integer(required=True)
    task = fields.Nested(TaskViewSchema, required=True)
    instructions = LocalizedText(allow_none=True, required=True)
    reward = fields.Nested(MoneySchema, required=True)
    lease_expires_at = Timestamp(required=True)


class LeaseResponseSchema(ma.Schema):
    assignments = fields.List(fields.Nested(AssignmentSchema), required=True)
    retry_after = fields.Integer(metadata={"description": "seconds; only when no task fits now"})


class SubmissionRequestSchema(ma.Schema):
    answer = fields.Dict(required=True, metadata={"description": "shape per task type (API.md)"})
    duration_ms = fields.Integer(strict=True, allow_none=True, load_default=None,
                                 validate=validate.Range(min=0, max=86_400_000))


class FeedbackSchema(ma.Schema):
    correct = fields.Boolean(required=True)
    explanation = LocalizedText(allow_none=True)


class SubmissionResultSchema(ma.Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    late = fields.Boolean(required=True)
    earned = fields.Nested(MoneySchema, required=True, metadata={"description": "booked as pending"})
    feedback = fields.Nested(FeedbackSchema, metadata={"description": "gold tasks only"})


class HeartbeatSchema(ma.Schema):
    lease_expires_at = Timestamp(required=True)
    max_lease_expires_at = Timestamp(required=True, metadata={"description": "heartbeats stop here"})


class MyAssignmentArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(ASSIGNMENT_STATUSES))


class MyAssignmentSchema(AssignmentSchema):
    status = fields.String(required=True, validate=validate.OneOf(ASSIGNMENT_STATUSES))
    leased_at = Timestamp(required=True)
    ended_at = Timestamp(allow_none=True, required=True)


class MyAssignmentPageSchema(ma.Schema):
    items = fields.List(fields.Nested(MyAssignmentSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class WorkPreferencesInSchema(ma.Schema):
    sensitive_content = fields.Boolean(required=True,
                                       metadata={"description": "receive projects with sensitive content"})


class WorkPreferencesSchema(WorkPreferencesInSchema):
    sensitive_daily_limit = fields.Integer(required=True)
    sensitive_tasks_today = fields.Integer(required=True, metadata={"description": "last 24 hours"})
