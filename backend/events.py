"""Domain events: how one domain tells the others what happened, without importing them.

Senders pass keyword arguments only; a handler with an outside effect writes an outbox row in
the same transaction, the effect itself happens after commit from the scheduler.
"""

from blinker import Namespace

_signals = Namespace()

user_registered = _signals.signal("user_registered")  # user_id
level_changed = _signals.signal("level_changed")  # user_id, skill, old_level, new_level, reason, source
course_completed = _signals.signal("course_completed")  # user_id, course_id, slug, skill, level
certificate_issued = _signals.signal("certificate_issued")  # user_id, skill, level, code, expires_at
certificate_lapsed = _signals.signal("certificate_lapsed")  # user_id, skill, code, status (expired|revoked)
exam_failed = _signals.signal("exam_failed")  # user_id, exam_id, retake_at
submission_accepted = _signals.signal("submission_accepted")  # submission_id, user_id, reward, gold
submission_reviewed = _signals.signal("submission_reviewed")  # submission_id, user_id, decision, reason
payout_changed = _signals.signal("payout_changed")  # payout_id, user_id, status

# Keyword arguments each signal carries (the contract between domains):
# user_registered(user_id)
# level_changed(user_id, skill, old_level, new_level, reason, source)
# course_completed(user_id, course_id, slug, skill, level)
# certificate_issued(user_id, skill, level, code, expires_at, exam_id)
# certificate_lapsed(user_id, skill, code, status)                 status: expired | revoked
# exam_failed(user_id, exam_id, attempt_id, retake_at)            retake_at None when no attempts left
# submission_accepted(submission_id, user_id, project_id, task_id, reward_amount, currency, gold, correct)
# submission_reviewed(submission_id, user_id, decision, reason, final)   decision: approved | rejected
# payout_changed(payout_id, user_id, status, amount, currency, failure_reason)
