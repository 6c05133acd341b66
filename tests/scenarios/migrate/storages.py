"""Backup storages that misbehave on purpose: a full disk cannot be made safely on a shared machine,
so these stand in for it (the tests say so)."""

import os
import time

from django.core.files.storage import FileSystemStorage


class FullDiskStorage(FileSystemStorage):
    """Writes half the file, then fails as a full disk does (ENOSPC)."""

    def _save(self, name, content):
        with open(self.path(name), "wb") as handle:
            handle.write(content.read(max(1, content.size // 2)))
        raise OSError(28, "No space left on device")


class SlowStorage(FileSystemStorage):
    """Writes a marker file, then sleeps before saving: the tests kill the process during the backup."""

    def _save(self, name, content):
        marker = os.environ.get("CICD_TEST_MARKER")
        if marker and not name.endswith(".metadata"):
            with open(marker, "w") as handle:
                handle.write("inside the backup")
            time.sleep(float(os.environ.get("CICD_TEST_SLEEP", "60")))
        return super()._save(name, content)
