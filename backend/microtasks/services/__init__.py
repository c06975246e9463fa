"""Micro-task engine: projects, task import, skill-gated leasing, submissions.

The public service API (views, CLI, jobs, bench/ and other domains call these):

- projects: create_project, update_project, manager_project, manager_projects, project_progress,
  worker_projects, open_work_by_skill
- import: import_tasks with records_from_list / records_from_lines / records_from_stream
- work: lease(user_id, count, project_id=None), request_work, heartbeat, give_back,
  submit(user_id, assignment_id, answer, duration_ms), my_assignments, expire_leases,
  work_preferences_of, set_work_preferences
- task types: REGISTRY, TASK_TYPES, task_type
- connect_handlers: registers the worker's micro-task data for export and account deletion
"""

from backend.microtasks.services.imports import (
    import_tasks,
    records_from_lines,
    records_from_list,
    records_from_stream,
)
from backend.microtasks.services.leasing import (
    claim_statement,
    expire_leases,
    give_back,
    gold_statement,
    heartbeat,
    lease,
    my_assignments,
    open_work_statement,
    reclaim_expired,
    reclaim_statement,
    request_work,
    set_work_preferences,
    submit,
    work_preferences_of,
)
from backend.microtasks.services.personal_data import connect_handlers
from backend.microtasks.services.projects import (
    create_project,
    get_project,
    manager_project,
    manager_projects,
    open_work_by_skill,
    project_progress,
    project_view,
    update_project,
    worker_projects,
)
from backend.microtasks.services.task_types import REGISTRY, TASK_TYPES, task_type

__all__ = [
    "REGISTRY", "TASK_TYPES", "claim_statement", "connect_handlers", "create_project", "expire_leases", "get_project",
    "give_back", "gold_statement", "heartbeat", "import_tasks", "lease", "manager_project",
    "manager_projects", "my_assignments", "open_work_by_skill", "open_work_statement", "project_progress",
    "project_view", "reclaim_expired", "reclaim_statement", "records_from_lines", "records_from_list",
    "records_from_stream", "request_work", "set_work_preferences", "submit", "task_type",
    "update_project", "work_preferences_of", "worker_projects",
]
