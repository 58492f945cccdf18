"""``/webhooks/v3/{appId}``: the app's target URL and its event subscriptions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.crm.api_objects import read_json
from sandboxes.crm.errors import CrmError, not_found, validation
from sandboxes.crm.model import APP_ID, iso_ms, now_ms
from sandboxes.crm.webhooks import WebhookHub

_BASE = "/webhooks/v3/{app_id}"
_OBJECT_EVENTS = ("creation", "deletion", "propertyChange")


class WebhookApi:
    def __init__(self, hub: WebhookHub) -> None:
        self.hub = hub

    def routes(self) -> list[Route]:
        return [
            Route(_BASE + "/settings", self.get_settings, methods=["GET"]),
            Route(_BASE + "/settings", self.put_settings, methods=["PUT"]),
            Route(_BASE + "/settings", self.delete_settings, methods=["DELETE"]),
            Route(_BASE + "/subscriptions", self.list_subscriptions, methods=["GET"]),
            Route(_BASE + "/subscriptions", self.create_subscription, methods=["POST"]),
            Route(_BASE + "/subscriptions/{sub_id}", self.get_subscription, methods=["GET"]),
            Route(_BASE + "/subscriptions/{sub_id}", self.patch_subscription, methods=["PATCH"]),
            Route(_BASE + "/subscriptions/{sub_id}", self.delete_subscription, methods=["DELETE"]),
        ]

    @staticmethod
    def _check_app(request: Request) -> None:
        if request.path_params["app_id"] != str(APP_ID):
            raise CrmError(
                404, "OBJECT_NOT_FOUND", f"App {request.path_params['app_id']} not found"
            )

    async def get_settings(self, request: Request) -> Response:
        self._check_app(request)
        settings = self.hub.settings()
        if settings is None:
            raise not_found("No webhook settings for this app")
        return JSONResponse(settings)

    async def put_settings(self, request: Request) -> Response:
        self._check_app(request)
        body = await read_json(request)
        target = body.get("targetUrl")
        if not isinstance(target, str) or not target.startswith(("http://", "https://")):
            raise validation("targetUrl must be an http(s) URL")
        throttling = body.get("throttling") or {}
        return JSONResponse(self.hub.put_settings(target, dict(throttling), now_ms()))

    async def delete_settings(self, request: Request) -> Response:
        self._check_app(request)
        self.hub.delete_settings()
        return Response(status_code=204)

    async def list_subscriptions(self, request: Request) -> Response:
        self._check_app(request)
        return JSONResponse({"results": self.hub.subscriptions()})

    async def create_subscription(self, request: Request) -> Response:
        self._check_app(request)
        body = await read_json(request)
        event_type = str(body.get("eventType", ""))
        obj, _, event = event_type.partition(".")
        if obj not in ("company", "contact") or event not in _OBJECT_EVENTS:
            raise validation(f"eventType {event_type!r} is not served by this portal")
        prop = body.get("propertyName")
        if (event == "propertyChange") != bool(prop):
            raise validation("propertyName is required for, and only for, propertyChange")
        sub = self.hub.subscribe(event_type, prop, bool(body.get("active", False)), now_ms())
        return JSONResponse(sub, status_code=201)

    def _find(self, request: Request) -> dict[str, Any]:
        self._check_app(request)
        sub = self.hub.store.get("subscription", request.path_params["sub_id"])
        if sub is None:
            raise not_found("Subscription not found")
        return sub

    async def get_subscription(self, request: Request) -> Response:
        return JSONResponse(self._find(request))

    async def patch_subscription(self, request: Request) -> Response:
        sub = self._find(request)
        body = await read_json(request)
        if "active" in body:
            sub["active"] = bool(body["active"])
        sub["updatedAt"] = iso_ms(now_ms())
        self.hub.store.put("subscription", sub["id"], sub)
        return JSONResponse(sub)

    async def delete_subscription(self, request: Request) -> Response:
        sub = self._find(request)
        self.hub.store.delete("subscription", sub["id"])
        return Response(status_code=204)
