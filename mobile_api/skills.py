from backend.api import Blueprint
from backend.skills import schemas
from backend.skills import services as skills
from backend.web import auth_required, current_user

blp = Blueprint("skills", __name__, url_prefix="/api/v1", description="Skills and levels")


@blp.route("/skills", methods=["GET"])
@auth_required()
@blp.response(200, schemas.SkillListSchema)
def list_skills():
    return {"items": skills.list_skills(), "next_cursor": None}


@blp.route("/me/skills", methods=["GET"])
@auth_required()
@blp.response(200, schemas.WorkerSkillListSchema)
def my_skills():
    return {"items": skills.worker_skills(current_user().id), "next_cursor": None}
