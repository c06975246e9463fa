"""Schemas of earnings and payouts. Money is always {amount, currency} in responses."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.i18n import LocalizedText
from backend.payouts.models import ENTRY_KINDS, PAYOUT_SOURCES, PAYOUT_STATUSES, REWARD_STATUSES
from backend.schemas import MoneySchema, PageArgs, Timestamp, page_of

MAX_AMOUNT = 10**12


class BucketChangesSchema(Schema):
    pending = fields.Integer(required=True)
    available = fields.Integer(required=True)
    processing = fields.Integer(required=True)
    paid_out = fields.Integer(required=True)


class LedgerEntrySchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ENTRY_KINDS))
    amount = fields.Nested(MoneySchema, required=True, metadata={"description": "the size of the move"})
    changes = fields.Nested(BucketChangesSchema, required=True,
                            metadata={"description": "signed change of each balance, minor units"})
    description = fields.String(required=True, metadata={"description": "why, in the worker's language"})
    status = fields.String(allow_none=True, validate=validate.OneOf(REWARD_STATUSES),
                           metadata={"description": "a reward's current state (reward entries)"})
    until = Timestamp(allow_none=True, metadata={"description": "review window or appeal deadline"})
    submission_id = fields.Integer(allow_none=True)
    task_id = fields.Integer(allow_none=True)
    payout_id = fields.Integer(allow_none=True)
    created_at = Timestamp(required=True)


class EarningsSchema(Schema):
    currency = fields.String(required=True)
    pending = fields.Nested(MoneySchema, required=True, metadata={"description": "waiting for review"})
    available = fields.Nested(MoneySchema, required=True, metadata={"description": "can be paid out"})
    processing = fields.Nested(MoneySchema, required=True,
                               metadata={"description": "requested payouts not yet at Stripe"})
    paid_out = fields.Nested(MoneySchema, required=True, metadata={"description": "sent to Stripe"})
    payout_minimum = fields.Nested(MoneySchema, required=True)
    entries = fields.Nested(page_of(LedgerEntrySchema), required=True)


class PayoutAccountSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(
        ("unavailable", "none", "onboarding", "restricted", "enabled")), metadata={
        "description": "unavailable: this server has no Stripe connection; none: not created yet; "
                       "onboarding: finish the Stripe form; restricted: Stripe needs more details; "
                       "enabled: payouts work"})
    onboarding_url = fields.String(metadata={"description": "Stripe's onboarding page (single use)"})
    onboarding_url_expires_at = Timestamp()
    payouts_enabled = fields.Boolean(required=True)
    details_submitted = fields.Boolean(required=True)


class PayoutRequestSchema(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT),
                            metadata={"description": "minor units of the deployment's currency"})


class PayoutSchema(Schema):
    id = fields.Integer(required=True)
    amount = fields.Nested(MoneySchema, required=True)
    status = fields.String(required=True, validate=validate.OneOf(PAYOUT_STATUSES))
    status_detail = fields.String(required=True)
    failure_reason = fields.String(allow_none=True)
    source = fields.String(required=True, validate=validate.OneOf(PAYOUT_SOURCES))
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    transferred_at = Timestamp(allow_none=True)
    paid_at = Timestamp(allow_none=True)


class ManagerPayoutSchema(Schema):
    id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    email = fields.String(required=True)
    display_name = fields.String(required=True)
    amount = fields.Nested(MoneySchema, required=True)
    status = fields.String(required=True, validate=validate.OneOf(PAYOUT_STATUSES))
    source = fields.String(required=True)
    transfer_id = fields.String(allow_none=True)
    destination = fields.String(allow_none=True)
    attempts = fields.Integer(required=True)
    failure_code = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    reversed_amount = fields.Nested(MoneySchema, required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    transferred_at = Timestamp(allow_none=True)
    paid_at = Timestamp(allow_none=True)


class ManagerPayoutArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(PAYOUT_STATUSES))
    user_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))  # an id column's range
    format = fields.String(load_default=None, validate=validate.OneOf(("json", "csv")))


class BonusRequestSchema(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT),
                            metadata={"description": "minor units of the deployment's currency"})
    reason = LocalizedText(required=True, max_length=500, metadata={"description": "the worker reads it"})


class BonusSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "the ledger entry"})
    user_id = fields.Integer(required=True)
    amount = fields.Nested(MoneySchema, required=True)
    reason = LocalizedText(required=True)
    created_at = Timestamp(required=True)


class WebhookAckSchema(Schema):
    received = fields.Boolean(required=True)
    duplicate = fields.Boolean(required=True, metadata={"description": "a redelivery: nothing was done"})


class NoticeSchema(Schema):
    message = fields.String(required=True)


PayoutPageSchema = page_of(PayoutSchema)
ManagerPayoutPageSchema = page_of(ManagerPayoutSchema)
