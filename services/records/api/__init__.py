"""The records HTTP API: one router, every controller (each engineer adds their own line)."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from services.records.api.attachments import attachment_routes
from services.records.api.bulk_actions import BulkActionsController
from services.records.api.common import provide_access
from services.records.api.contacts import ContactsController
from services.records.api.custom_fields import CustomFieldsController
from services.records.api.customers import CustomersController
from services.records.api.data_quality import DataQualityController
from services.records.api.duplicates import DuplicatesController
from services.records.api.exports import ExportsController
from services.records.api.imports import ImportsController
from services.records.api.interactions import InteractionsController
from services.records.api.objections import ObjectionsController
from services.records.api.opportunities import OpportunitiesController
from services.records.api.pipelines import PipelinesController
from services.records.api.reports import ReportsController
from services.records.api.saved_views import SavedViewsController
from services.records.api.settings import get_records_settings, patch_records_settings
from services.records.api.tasks import TasksController
from services.records.api.timeline import customer_timeline
from shared.http.app import API_PREFIX


def router() -> Router:
    return Router(
        path=API_PREFIX,
        dependencies={"access": Provide(provide_access)},
        route_handlers=[
            get_records_settings, patch_records_settings,
            CustomFieldsController,
            CustomersController, BulkActionsController,
            DuplicatesController, DataQualityController,
            ContactsController,
            PipelinesController,
            OpportunitiesController,
            customer_timeline,
            ReportsController,
            InteractionsController, ObjectionsController, TasksController,
            ImportsController,
            ExportsController,
            SavedViewsController,
            *attachment_routes(),
        ],
    )
