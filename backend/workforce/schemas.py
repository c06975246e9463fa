"""Request and response shapes of the workforce analytics endpoints (/api/v1/manage/...)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from backend.i18n import CleanString, LocalizedText
from backend.schemas import MoneySchema, PageArgs, Timestamp
from backend.workforce.services import ACTIVITY_FILTERS, FUNNEL_STAGES, WORKER_SORTS

# ------------------------------------------------------------------------------ summary


class WorkforceLevelCountSchema(ma.Schema):
    level = fields.Integer(required=True)
    workers = fields.Integer(required=True)


class WorkforceSkillSchema(ma.Schema):
    skill = fields.String(required=True)
    name = LocalizedText(required=True)
    max_level = fields.Integer(required=True)
    levels = fields.List(fields.Nested(WorkforceLevelCountSchema), required=True,
                         metadata={"description": "level 0 = the workforce without a level in this skill"})
    at_level_1_or_above = fields.Integer(required=True)
    certified = fields.Integer(required=True, metadata={"description": "workers holding a valid certificate"})
    expiring_30d = fields.Integer(required=True, metadata={"description": "certificates expiring within 30 days"})
    active_7d = fields.Integer(required=True)
    active_30d = fields.Integer(required=True)


class WorkforceSummarySchema(ma.Schema):
    generated_at = Timestamp(required=True)
    workers = fields.Integer(required=True, metadata={"description": "the workforce (role worker, not deleted)"})
    certified = fields.Integer(required=True, metadata={"description": "workers holding any valid certificate"})
    expiring_30d = fields.Integer(required=True)
    active_7d = fields.Integer(required=True)
    active_30d = fields.Integer(required=True)
    skills = fields.List(fields.Nested(WorkforceSkillSchema), required=True)


# ------------------------------------------------------------------------------ funnel


class WorkforceFunnelArgs(ma.Schema):
    weeks = fields.Integer(load_default=8, validate=validate.Range(min=1, max=104))


class FunnelStageSchema(ma.Schema):
    stage = fields.String(required=True, validate=validate.OneOf(FUNNEL_STAGES))
    count = fields.Integer(required=True)
    conversion = fields.Float(allow_none=True, required=True, metadata={"description": "of the previous stage"})
    share = fields.Float(allow_none=True, required=True, metadata={"description": "of the registered"})


class FunnelCohortSchema(ma.Schema):
    week_start = Timestamp(required=True)
    stages = fields.List(fields.Nested(FunnelStageSchema), required=True)


class WorkforceFunnelSchema(ma.Schema):
    generated_at = Timestamp(required=True)
    weeks = fields.Integer(required=True)
    timezone = fields.String(required=True, metadata={"description": "weeks start Monday 00:00 here"})
    stages = fields.List(fields.String(), required=True)
    total = fields.List(fields.Nested(FunnelStageSchema), required=True)
    cohorts = fields.List(fields.Nested(FunnelCohortSchema), required=True, metadata={"description": "oldest first"})


# ------------------------------------------------------------------------------ charts' data


class WorkforceThroughputArgs(ma.Schema):
    days = fields.Integer(load_default=14, validate=validate.Range(min=1, max=90))


class ThroughputHourSchema(ma.Schema):
    hour = Timestamp(required=True)
    answers = fields.Integer(required=True)
    gold_answers = fields.Integer(required=True)


class WorkforceThroughputSchema(ma.Schema):
    items = fields.List(fields.Nested(ThroughputHourSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class WorkforceAccuracyArgs(ma.Schema):
    min_gold = fields.Integer(load_default=5, validate=validate.Range(min=1, max=10_000))


class AccuracyBinSchema(ma.Schema):
    from_ = fields.Float(required=True, data_key="from", attribute="from")
    to = fields.Float(required=True)
    workers = fields.Integer(required=True)


class WorkforceAccuracySchema(ma.Schema):
    min_gold = fields.Integer(required=True)
    workers = fields.Integer(required=True)
    bins = fields.List(fields.Nested(AccuracyBinSchema), required=True)


class ExpiringCertificatesArgs(ma.Schema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=366))


class ExpiringCertificateSchema(ma.Schema):
    user_id = fields.Integer(required=True)
    display_name = fields.String(required=True)
    email = fields.String(required=True)
    code = fields.String(required=True)
    skill = fields.String(required=True)
    level = fields.Integer(required=True)
    expires_at = Timestamp(required=True)
    days_left = fields.Integer(required=True)


class ExpiringCertificatePageSchema(ma.Schema):
    items = fields.List(fields.Nested(ExpiringCertificateSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class WorkforceProjectsArgs(ma.Schema):
    status = fields.String(load_default="active", validate=validate.OneOf(("active", "paused", "finished")))


class WorkforceProjectSchema(ma.Schema):
    id = fields.Integer(required=True)
    key = fields.String(allow_none=True, required=True)
    title = LocalizedText(required=True)
    skill = fields.String(required=True)
    difficulty = fields.Integer(required=True)
    sensitive_content = fields.Boolean(required=True)
    status = fields.String(required=True)
    overlap = fields.Integer(required=True)
    tasks_total = fields.Integer(required=True)
    tasks_done = fields.Integer(required=True)
    remaining_answers = fields.Integer(required=True)
    answers = fields.Integer(required=True)
    answers_last_24h = fields.Integer(required=True)
    answers_per_hour = fields.Float(required=True)
    eta = Timestamp(allow_none=True, required=True)
    eligible_workers = fields.Integer(required=True)
    gold_accuracy = fields.Float(allow_none=True, required=True)


class WorkforceProjectPageSchema(ma.Schema):
    items = fields.List(fields.Nested(WorkforceProjectSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


# ------------------------------------------------------------------------------ workers


class WorkerListArgs(PageArgs):
    skill = fields.String(validate=validate.Regexp(r"^[a-z0-9_]{1,40}$", error="Not a skill code."))
    level = fields.Integer(validate=validate.Range(min=0, max=5), metadata={"description": "exact level in `skill`"})
    min_level = fields.Integer(validate=validate.Range(min=0, max=5), metadata={"description": "level ≥ in `skill`"})
    activity = fields.String(validate=validate.OneOf(ACTIVITY_FILTERS),
                             metadata={"description": "answered in the last 7/30 days, not for 30 days, never"})
    min_accuracy = fields.Float(validate=validate.Range(min=0, max=1), metadata={"description": "gold accuracy"})
    max_accuracy = fields.Float(validate=validate.Range(min=0, max=1))
    q = CleanString(validate=[validate.Length(max=100), validate.Regexp(r"^[^\x00-\x1f\x7f]*$",
                                                                        error="No control characters.")],
                    metadata={"description": "in the name or email"})
    sort = fields.String(load_default="-last_active", validate=validate.OneOf(
        [*WORKER_SORTS, *(f"-{name}" for name in WORKER_SORTS)]))


class WorkerItemSchema(ma.Schema):
    id = fields.Integer(required=True)
    display_name = fields.String(required=True)
    email = fields.String(required=True)
    created_at = Timestamp(required=True)
    last_active_at = Timestamp(allow_none=True, required=True, metadata={"description": "last answer"})
    answers = fields.Integer(required=True)
    gold_answers = fields.Integer(required=True)
    gold_correct = fields.Integer(required=True)
    gold_accuracy = fields.Float(allow_none=True, required=True)
    agreement = fields.Float(allow_none=True, required=True,
                             metadata={"description": "share of answers agreeing with the aggregated result"})
    levels = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "skill → level (levels above 0)"})
    earned = fields.Nested(MoneySchema, required=True, metadata={"description": "everything booked, any state"})


class WorkerPageSchema(ma.Schema):
    items = fields.List(fields.Nested(WorkerItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Integer(required=True, metadata={"description": "workers matching the filters"})


class WorkerProportionSchema(ma.Schema):
    successes = fields.Integer(required=True)
    total = fields.Integer(required=True)
    rate = fields.Float(allow_none=True, required=True)
    ci_low = fields.Float(allow_none=True, required=True, metadata={"description": "Wilson 95 % lower bound"})
    ci_high = fields.Float(allow_none=True, required=True, metadata={"description": "Wilson 95 % upper bound"})


class WorkerLevelEventSchema(ma.Schema):
    at = Timestamp(required=True)
    from_level = fields.Integer(required=True)
    level = fields.Integer(required=True)
    source = fields.String(required=True)
    reason = fields.String(required=True)
    actor_id = fields.Integer(allow_none=True, required=True)


class WorkerSkillDetailSchema(ma.Schema):
    skill = fields.String(required=True)
    name = LocalizedText(required=True)
    level = fields.Integer(required=True)
    max_level = fields.Integer(required=True)
    certified_until = Timestamp(allow_none=True, required=True)
    next_level = fields.Dict(allow_none=True, metadata={"description": "the next level's requirements and progress "
                                                                       "(as GET /me/skills)"})
    timeline = fields.List(fields.Nested(WorkerLevelEventSchema), required=True, metadata={"description": "oldest first"})
    answers = fields.Integer(required=True)
    last_active_at = Timestamp(allow_none=True, required=True)
    gold = fields.Nested(WorkerProportionSchema, required=True)


class WorkerMedianTimeSchema(ma.Schema):
    difficulty = fields.Integer(required=True)
    answers = fields.Integer(required=True)
    median_s = fields.Float(required=True)


class WorkerEarningsSchema(ma.Schema):
    pending = fields.Nested(MoneySchema, required=True)
    available = fields.Nested(MoneySchema, required=True)
    processing = fields.Nested(MoneySchema, required=True)
    paid_out = fields.Nested(MoneySchema, required=True)
    total = fields.Nested(MoneySchema, required=True)


class WorkerAppealSchema(ma.Schema):
    id = fields.Integer(required=True)
    submission_id = fields.Integer(required=True)
    created_at = Timestamp(required=True)


class WorkerCertificateSchema(ma.Schema):
    code = fields.String(required=True)
    skill = fields.String(required=True)
    level = fields.Integer(required=True)
    issued_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    status = fields.String(required=True)


class WorkerDetailSchema(ma.Schema):
    id = fields.Integer(required=True)
    display_name = fields.String(required=True)
    email = fields.String(required=True)
    locale = fields.String(required=True)
    created_at = Timestamp(required=True)
    last_active_at = Timestamp(allow_none=True, required=True)
    answers = fields.Integer(required=True)
    skills = fields.List(fields.Nested(WorkerSkillDetailSchema), required=True)
    gold = fields.Nested(WorkerProportionSchema, required=True, metadata={"description": "gold accuracy"})
    agreement = fields.Nested(WorkerProportionSchema, required=True,
                              metadata={"description": "answers agreeing with the aggregated results"})
    first_pass_acceptance = fields.Nested(WorkerProportionSchema, required=True,
                                          metadata={"description": "human reviews approved at the first decision"})
    median_time = fields.List(fields.Nested(WorkerMedianTimeSchema), required=True)
    earnings = fields.Nested(WorkerEarningsSchema, required=True)
    open_appeals = fields.List(fields.Nested(WorkerAppealSchema), required=True)
    certificates = fields.List(fields.Nested(WorkerCertificateSchema), required=True)


class LevelOverrideSchema(ma.Schema):
    level = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=5))
    reason = CleanString(required=True, validate=validate.Length(min=1, max=500))


class LevelOverrideResultSchema(ma.Schema):
    skill = fields.String(required=True)
    name = LocalizedText(required=True)
    level = fields.Integer(required=True)
    previous_level = fields.Integer(required=True)
    changed = fields.Boolean(required=True)
    max_level = fields.Integer(required=True)
    certified_until = Timestamp(allow_none=True, required=True)
    timeline = fields.List(fields.Nested(WorkerLevelEventSchema), required=True)
