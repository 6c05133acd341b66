"""The release ledger: one row per deploy attempt and per rollback, in each migrated database."""

from __future__ import annotations

from typing import Any

from django.db import models


class Release(models.Model):
    class Kind(models.TextChoices):
        DEPLOY = "deploy"
        ROLLBACK = "rollback"

    class Status(models.TextChoices):
        PENDING = "pending"
        MIGRATING = "migrating"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        #: The run failed and the database was brought back to its state before the run.
        RECOVERED = "recovered"
        #: A later rollback undid this release.
        ROLLED_BACK = "rolled_back"

    name = models.CharField(max_length=200, help_text="Release name: git sha or the name given with --release.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DEPLOY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    database = models.CharField(max_length=100, default="default", help_text="The database alias migrated.")
    environment = models.CharField(max_length=100, blank=True, default="")

    state_before = models.JSONField(default=dict, help_text="{app_label: leaf migration or null} before the run.")
    state_after = models.JSONField(null=True, blank=True, help_text="The same after the run.")
    plan = models.JSONField(default=list, help_text="Migrations run, in order, with direction and seconds.")

    backup_name = models.CharField(max_length=500, blank=True, default="")
    backup_sha256 = models.CharField(max_length=64, blank=True, default="")
    backup_size = models.BigIntegerField(null=True, blank=True)
    backup_storage = models.CharField(max_length=500, blank=True, default="")
    backup_compressed = models.BooleanField(default=False)
    backup_encrypted = models.BooleanField(default=False)

    image_repository = models.CharField(max_length=500, blank=True, default="")
    image_digest = models.CharField(max_length=200, blank=True, default="")

    #: For a rollback: the release it went back to.
    target = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    host = models.CharField(max_length=255, blank=True, default="")
    user = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["database", "kind", "status"], name="django_cicd_release_lookup")]
        verbose_name = "release"

    def __str__(self) -> str:
        return f"{self.kind} {self.name} on {self.database}: {self.status}"

    @property
    def image(self) -> str:
        if self.image_repository and self.image_digest:
            return f"{self.image_repository}@{self.image_digest}"
        return self.image_repository

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "database": self.database,
            "environment": self.environment,
            "state_before": self.state_before,
            "state_after": self.state_after,
            "plan": self.plan,
            "backup": {
                "name": self.backup_name,
                "sha256": self.backup_sha256,
                "size": self.backup_size,
                "storage": self.backup_storage,
                "compressed": self.backup_compressed,
                "encrypted": self.backup_encrypted,
            }
            if self.backup_name
            else None,
            "image": {"repository": self.image_repository, "digest": self.image_digest}
            if self.image_repository
            else None,
            "target_id": self.target_id,
            "stage": (self.details or {}).get("stage") if isinstance(self.details, dict) else None,
            "host": self.host,
            "user": self.user,
            "pid": self.pid,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
        }
