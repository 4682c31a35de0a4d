"""The notifications HTTP API: one router."""

from __future__ import annotations

from litestar import Router

from services.notifications.api.inbox import NotificationsController
from services.notifications.api.mail import SinkMailController
from services.notifications.api.preferences import DefaultsController, PreferencesController
from services.notifications.api.robots import ChatRobotsController
from services.notifications.api.webhooks import WebhooksController
from shared.http.app import API_PREFIX


def router() -> Router:
    return Router(path=API_PREFIX, route_handlers=[
        NotificationsController, PreferencesController, DefaultsController, SinkMailController,
        WebhooksController, ChatRobotsController,
    ])
