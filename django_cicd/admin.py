from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from django_cicd.models import Release

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Release]
else:  # ModelAdmin is generic only in django-stubs
    _ModelAdmin = admin.ModelAdmin


@admin.register(Release)
class ReleaseAdmin(_ModelAdmin):
    """Read-only: the ledger is written by safe_migrate and rollback_release, never by hand."""

    list_display = ["name", "kind", "status", "database", "environment", "started_at", "finished_at", "host"]
    list_filter = ["kind", "status", "database", "environment"]
    search_fields = ["name", "host", "user", "backup_name", "image_repository", "image_digest"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
