"""Manager-facing endpoints of workforce analytics (/api/v1/manage/...). Every list also answers
as CSV (?format=csv or Accept: text/csv; UTF-8 with BOM)."""

from backend.api import Blueprint
from backend.i18n import localize
from backend.schemas import decode_cursor, encode_cursor
from backend.web import STAFF, auth_required, csv_response, current_user, wants_csv
from backend.workforce import schemas
from backend.workforce import services as workforce

blp = Blueprint("manage_workforce", __name__, url_prefix="/api/v1/manage", description="Manager console: workforce")

_LEVELS = range(0, 6)
SUMMARY_CSV = ["skill", "name", *(f"level_{level}" for level in _LEVELS), "certified", "expiring_30d",
               "active_7d", "active_30d"]
FUNNEL_CSV = ["week_start", *workforce.FUNNEL_STAGES, *(f"{stage}_conversion" for stage in workforce.FUNNEL_STAGES[1:])]
THROUGHPUT_CSV = ["hour", "answers", "gold_answers"]
ACCURACY_CSV = ["from", "to", "workers"]
EXPIRING_CSV = ["user_id", "display_name", "email", "skill", "level", "code", "expires_at", "days_left"]
PROJECTS_CSV = ["id", "key", "title", "skill", "difficulty", "status", "tasks_total", "tasks_done",
                "remaining_answers", "answers", "answers_last_24h", "answers_per_hour", "eta", "eligible_workers",
                "gold_accuracy"]
WORKERS_CSV = ["id", "display_name", "email", "created_at", "last_active_at", "answers", "gold_answers",
               "gold_correct", "gold_accuracy", "agreement", "levels", "earned", "currency"]


@blp.route("/workforce/summary", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.WorkforceSummarySchema)
@blp.csv_export()
def summary():
    data = workforce.summary()
    if wants_csv():
        rows = [{"skill": item["skill"], "name": localize(item["name"]),
                 **{f"level_{entry['level']}": entry["workers"] for entry in item["levels"]},
                 **{key: item[key] for key in ("certified", "expiring_30d", "active_7d", "active_30d")}}
                for item in data["skills"]]
        rows.append({"skill": "all", "name": "", **{key: data[key] for key in
                                                    ("certified", "expiring_30d", "active_7d", "active_30d")}})
        return csv_response(rows, SUMMARY_CSV, "workforce-summary.csv")
    return data


@blp.route("/workforce/funnel", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.WorkforceFunnelArgs, location="query")
@blp.response(200, schemas.WorkforceFunnelSchema)
@blp.csv_export()
def funnel(args):
    data = workforce.funnel(args["weeks"])
    if wants_csv():
        def row(label, stages):
            return {"week_start": label, **{s["stage"]: s["count"] for s in stages},
                    **{f"{s['stage']}_conversion": s["conversion"] for s in stages[1:]}}

        dumped = schemas.WorkforceFunnelSchema().dump(data)
        rows = [row(cohort["week_start"], cohort["stages"]) for cohort in dumped["cohorts"]]
        rows.append(row("total", dumped["total"]))
        return csv_response(rows, FUNNEL_CSV, "workforce-funnel.csv")
    return data


@blp.route("/workforce/throughput", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.WorkforceThroughputArgs, location="query")
@blp.response(200, schemas.WorkforceThroughputSchema)
@blp.csv_export()
def throughput(args):
    items = workforce.answers_per_hour(hours=args["days"] * 24)
    if wants_csv():
        return csv_response(schemas.ThroughputHourSchema(many=True).dump(items), THROUGHPUT_CSV, "answers-per-hour.csv")
    return {"items": items, "next_cursor": None}


@blp.route("/workforce/accuracy", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.WorkforceAccuracyArgs, location="query")
@blp.response(200, schemas.WorkforceAccuracySchema)
@blp.csv_export()
def accuracy(args):
    data = workforce.accuracy_histogram(min_gold=args["min_gold"])
    if wants_csv():
        return csv_response(data["bins"], ACCURACY_CSV, "gold-accuracy.csv")
    return data


@blp.route("/workforce/certificates/expiring", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.ExpiringCertificatesArgs, location="query")
@blp.response(200, schemas.ExpiringCertificatePageSchema)
@blp.csv_export()
def expiring(args):
    items = workforce.expiring_certificates(args["days"])
    if wants_csv():
        return csv_response(schemas.ExpiringCertificateSchema(many=True).dump(items), EXPIRING_CSV, "expiring-certificates.csv")
    return {"items": items, "next_cursor": None}


@blp.route("/workforce/projects", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.WorkforceProjectsArgs, location="query")
@blp.response(200, schemas.WorkforceProjectPageSchema)
@blp.csv_export()
def projects(args):
    items = workforce.projects_overview(args["status"])
    if wants_csv():
        return csv_response(schemas.WorkforceProjectSchema(many=True).dump(items), PROJECTS_CSV,
                            "project-progress.csv")
    return {"items": items, "next_cursor": None}


@blp.route("/workers", methods=["GET"])
@auth_required(*STAFF)
@blp.arguments(schemas.WorkerListArgs, location="query")
@blp.response(200, schemas.WorkerPageSchema)
@blp.csv_export()
def list_workers(args):
    csv = wants_csv()
    filters = {name: args.get(name) for name in ("skill", "level", "min_level", "activity", "min_accuracy",
                                                  "max_accuracy", "q")}
    offset = 0 if csv else max(0, decode_cursor(args["cursor"]) or 0)
    page = workforce.list_workers(**filters, sort=args["sort"], offset=offset, limit=None if csv else args["limit"])
    if csv:
        rows = [{**item, "levels": " ".join(f"{skill}:{level}" for skill, level in sorted(item["levels"].items())),
                 "earned": item["earned"]["amount"], "currency": item["earned"]["currency"]}
                for item in schemas.WorkerItemSchema(many=True).dump(page["items"])]
        return csv_response(rows, WORKERS_CSV, "workers.csv")
    return {"items": page["items"], "total": page["total"],
            "next_cursor": encode_cursor(page["next_offset"]) if page["next_offset"] is not None else None}


@blp.route("/workers/<int:worker_id>", methods=["GET"])
@auth_required(*STAFF)
@blp.response(200, schemas.WorkerDetailSchema)
@blp.problem(404, "No such worker")
def worker_detail(worker_id):
    return workforce.worker_detail(worker_id)


@blp.route("/workers/<int:worker_id>/skills/<skill>", methods=["PUT"])
@auth_required(*STAFF)
@blp.arguments(schemas.LevelOverrideSchema)
@blp.response(200, schemas.LevelOverrideResultSchema)
@blp.problem(404, "No such worker or skill")
def override_level(body, worker_id, skill):
    return workforce.override_level(worker_id, skill, body["level"], body["reason"], actor_id=current_user().id)
