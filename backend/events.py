"""Domain events: how one domain tells the others what happened, without importing them.

Senders pass keyword arguments only (listed beside each signal: the contract between domains).
A handler with an outside effect writes an outbox row in the same transaction; the effect itself
happens after commit, from the scheduler.
"""

from blinker import Namespace

_signals = Namespace()

# user_id
user_registered = _signals.signal("user_registered")
# user_id, skill, old_level, new_level, reason, source
level_changed = _signals.signal("level_changed")
# user_id, course_id, slug, skill, level
course_completed = _signals.signal("course_completed")
# user_id, skill, level, code, expires_at, exam_id
certificate_issued = _signals.signal("certificate_issued")
# user_id, skill, code, status (expired | revoked)
certificate_lapsed = _signals.signal("certificate_lapsed")
# user_id, exam_id, attempt_id, retake_at (None when no attempts are left)
exam_failed = _signals.signal("exam_failed")
# submission_id, user_id, project_id, task_id, reward_amount, currency, gold, correct,
# task_type, skill_code, duration_ms, submitted_at (what handlers would otherwise read back)
submission_accepted = _signals.signal("submission_accepted")
# submission_id, user_id, decision (approved | rejected), reason, final, appeal (an appeal's decision)
submission_reviewed = _signals.signal("submission_reviewed")
# pause_id, user_id, project_id, status (paused | lifted), reason ({ko, en}), actor_id (a lifting manager)
pause_changed = _signals.signal("pause_changed")
# payout_id, user_id, status, amount, currency, failure_reason ({ko, en} or None)
payout_changed = _signals.signal("payout_changed")
