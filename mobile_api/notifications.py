from backend.api import Blueprint
from backend.notifications import schemas
from backend.notifications import services as notifications
from backend.web import auth_required, current_user

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="notifications (worker)")


@blp.route("/me/devices", methods=["POST"])
@auth_required()
@blp.arguments(schemas.DeviceInSchema)
@blp.response(201, schemas.DeviceSchema, description="Registered (or moved here from another account)")
@blp.alt_response(200, schema=schemas.DeviceSchema, description="Already registered to this account",
                  success=True)
def register_device(body):
    device, created = notifications.register_device(current_user().id, body["token"], body["platform"])
    return device, 201 if created else 200


@blp.route("/me/devices", methods=["GET"])
@auth_required()
@blp.response(200, schemas.DeviceListSchema)
def list_devices():
    return {"items": notifications.list_devices(current_user().id), "next_cursor": None}


@blp.route("/me/devices/<string:token>", methods=["DELETE"])
@auth_required()
@blp.response(204)
@blp.problem(404, "No such device on this account")
def unregister_device(token):
    notifications.unregister_device(current_user().id, token)


@blp.route("/me/notifications", methods=["GET"])
@auth_required()
@blp.arguments(schemas.FeedArgs, location="query")
@blp.response(200, schemas.FeedSchema)
def feed(args):
    return notifications.feed(current_user().id, cursor=args["cursor"], limit=args["limit"],
                              unread_only=args["unread"])


@blp.route("/me/notifications/<int:notification_id>/read", methods=["POST"])
@auth_required()
@blp.response(200, schemas.NotificationSchema)
@blp.problem(404, "No such notification")
def mark_read(notification_id):
    return notifications.mark_read(current_user().id, notification_id)


@blp.route("/me/notifications/read-all", methods=["POST"])
@auth_required()
@blp.response(200, schemas.MarkedSchema)
def mark_all_read():
    return {"updated": notifications.mark_all_read(current_user().id)}


@blp.route("/me/notification-preferences", methods=["GET"])
@auth_required()
@blp.response(200, schemas.PreferencesSchema)
def get_preferences():
    return notifications.preferences(current_user().id)


@blp.route("/me/notification-preferences", methods=["PUT"])
@auth_required()
@blp.arguments(schemas.PreferencesUpdateSchema)
@blp.response(200, schemas.PreferencesSchema)
def put_preferences(body):
    changes = {"categories": body.get("categories")}
    if "quiet_hours" in body:
        changes["quiet_hours"] = body["quiet_hours"]
    return notifications.update_preferences(current_user().id, **changes)
