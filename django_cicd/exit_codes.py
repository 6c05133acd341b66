"""The one exit-code contract shared by every django-cicd command."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    #: The command ran and the answer is yes (checks passed, migrations applied, rollback done).
    OK = 0
    #: The command ran and the answer is no (a check failed, a migration failed, a rollback was refused).
    NO = 1
    #: The command could not run (bad options, broken settings, lock not obtained, service unreachable).
    COULD_NOT_RUN = 2
