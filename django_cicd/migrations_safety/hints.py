"""Numbered safe steps for each rule, in Django terms, with the real app, model, table and column.

Each function takes the names of the finding (``app``, ``model``, ``model_name`` (lower case),
``field``, ``table``, ``column``, ``sql``...) and returns the hint text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Names = dict[str, str]


def _steps(*steps: str) -> str:
    return "\n".join(f"{number}. {step}" for number, step in enumerate(steps, 1))


def _two_release_removal(n: Names) -> str:
    nullable = (
        " If the column is NOT NULL, make it nullable (or give it a db_default) in that same migration first, "
        "so that the new code's INSERTs, which leave it out, succeed."
        if n.get("not_null")
        else ""
    )
    return _steps(
        f"Release N: remove every use of {n['model']}.{n['field']} from the code and replace this operation "
        f'with migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("{n["model_name"]}", '
        f'"{n["field"]}")]): Django forgets the field, the column "{n["column"]}" stays.{nullable}',
        "Deploy release N and wait until no process of the previous release is running.",
        f"Release N+1: drop the column with migrations.SeparateDatabaseAndState(database_operations=["
        f'migrations.RunSQL(\'ALTER TABLE "{n["table"]}" DROP COLUMN "{n["column"]}"\', '
        f"reverse_sql=migrations.RunSQL.noop)]), after a backup if its data may be needed.",
    )


def remove_field(n: Names) -> str:
    return _two_release_removal(n)


def delete_model(n: Names) -> str:
    return _steps(
        f"Release N: remove every use of {n['model']} from the code and replace this operation with "
        f'migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel("{n["model"]}")]): '
        f'the table "{n["table"]}" stays.',
        "Deploy release N and wait until no process of the previous release is running.",
        f"Release N+1: drop the table with migrations.SeparateDatabaseAndState(database_operations=["
        f"migrations.RunSQL('DROP TABLE \"{n['table']}\"', reverse_sql=migrations.RunSQL.noop)]), after a "
        "backup if its rows may be needed.",
    )


def rename_field(n: Names) -> str:
    return _steps(
        f'To rename in the code only: keep the column, give the field db_column="{n["column"]}" '
        f'({n["model"]}.{n["new_field"]} = ...(db_column="{n["column"]}")); the migration then renames nothing '
        "in the database.",
        f"To rename the column too: add {n['model']}.{n['new_field']} as a new nullable field, write both fields "
        "from the code, and deploy.",
        f'Backfill "{n["new_column"]}" from "{n["column"]}" in batches with a RunPython that has a reverse; '
        f"switch the reads to {n['new_field']} and deploy.",
        f"Remove {n['field']} in two releases (state first with SeparateDatabaseAndState, the column later).",
    )


def rename_model(n: Names) -> str:
    return _steps(
        f'To rename in the code only: set Meta.db_table = "{n["table"]}" on {n["new_model"]}; the rename then '
        "changes Django's state and not the database.",
        f"To rename the table too: create {n['new_model']} as a new model, write to both tables, backfill in "
        "batches, and switch the reads.",
        f'Drop "{n["table"]}" in a later release, once no running code uses it '
        "(SeparateDatabaseAndState state first, RunSQL DROP TABLE after).",
    )


def alter_model_table(n: Names) -> str:
    return _steps(
        f'Keep db_table = "{n["table"]}" in this release.',
        f'Create "{n["new_table"]}" as a new table (a new model), write to both, backfill in batches, switch '
        "the reads and deploy.",
        f'Drop "{n["table"]}" in a later release, once no running code uses it.',
    )


def change_type(n: Names) -> str:
    return _steps(
        f"Add a new nullable field {n['model']}.{n['field']}_new with the new type in release N, and write "
        f"both {n['field']} and {n['field']}_new from the code.",
        f'Backfill "{n["column"]}_new" from "{n["column"]}" in batches with a RunPython that has a reverse.',
        f"Release N+1: switch the reads to {n['field']}_new.",
        f"Remove {n['field']} in two releases (state first with SeparateDatabaseAndState, the column later).",
    )


def alter_field_null(n: Names) -> str:
    return _steps(
        f"Release N (no migration): deploy code that never writes NULL into {n['model']}.{n['field']}.",
        f"Backfill the NULLs in batches: RunPython that runs {n['model']}.objects.filter({n['field']}__isnull=True)"
        ".update(...) on slices of primary keys, with a reverse.",
        f"Release N+1: make the field NOT NULL. On PostgreSQL first add "
        f'AddConstraintNotValid("{n["model_name"]}", models.CheckConstraint(condition=models.Q('
        f'{n["field"]}__isnull=False), name="{n["table"]}_{n["column"]}_notnull")), then ValidateConstraint in '
        "the next migration, so that SET NOT NULL does not scan the table under a lock.",
    )


def add_field_not_null(n: Names) -> str:
    return _steps(
        f"Give {n['model']}.{n['field']} a database default (db_default=...): the old code's INSERTs, which "
        f'leave "{n["column"]}" out, then get the value from the database.',
        "Or add it with null=True in release N, deploy code that writes it, backfill the existing rows in "
        "batches, and make it NOT NULL in release N+1.",
    )


def add_unique(n: Names) -> str:
    return _steps(
        f'Deploy code that no longer writes duplicates of {n["columns"]} into "{n["table"]}" first.',
        "Remove the existing duplicates with a RunPython (with a reverse) and check that none remain.",
        f'On PostgreSQL build the index without a lock: RunSQL(\'CREATE UNIQUE INDEX CONCURRENTLY "{n["name"]}" '
        f'ON "{n["table"]}" ({n["columns"]})\') in a migration with atomic = False, then '
        f"SeparateDatabaseAndState(state_operations=[<this operation>]) so Django knows about it.",
    )


def pg_index_not_concurrent(n: Names) -> str:
    return _steps(
        "Move the index into its own migration with atomic = False.",
        f'Build it with django.contrib.postgres.operations.AddIndexConcurrently("{n["model_name"]}", '
        f"models.Index(...)), or, for an index Django creates for a field, with "
        f"SeparateDatabaseAndState(state_operations=[<this operation>], database_operations=["
        f"migrations.RunSQL('{n['concurrent_sql']}')]).",
        f'If the build fails halfway, drop the INVALID index with DROP INDEX CONCURRENTLY "{n["name"]}" and '
        "run the migration again.",
    )


def pg_foreign_key_not_valid(n: Names) -> str:
    return _steps(
        f'Create the field with db_constraint=False, so that no constraint is added with the column on "{n["table"]}".',
        f"Add the constraint without checking the existing rows: migrations.RunSQL('{n['not_valid_sql']}') "
        "(new rows are checked at once; the lock is brief).",
        f"In a following migration, check the old rows without blocking writes: migrations.RunSQL('ALTER TABLE "
        f'"{n["table"]}" VALIDATE CONSTRAINT "{n["name"]}"\').',
        "Tell Django the constraint exists: SeparateDatabaseAndState(state_operations=[AlterField(... "
        "db_constraint=True)]).",
    )


def pg_check_not_valid(n: Names) -> str:
    return _steps(
        f'Replace this operation with django.contrib.postgres.operations.AddConstraintNotValid("{n["model_name"]}", '
        "<the constraint>): only new rows are checked.",
        f'In a following migration, ValidateConstraint("{n["model_name"]}", name="{n["name"]}") checks the '
        "existing rows without blocking writes.",
    )


def pg_set_not_null(n: Names) -> str:
    return _steps(
        f'AddConstraintNotValid("{n["model_name"]}", models.CheckConstraint(condition=models.Q('
        f'{n["field"]}__isnull=False), name="{n["table"]}_{n["column"]}_notnull")).',
        f'In a following migration: ValidateConstraint("{n["model_name"]}", name="{n["table"]}_{n["column"]}'
        '_notnull") (no exclusive lock).',
        f"Then this AlterField: PostgreSQL proves NOT NULL from the valid constraint and skips the scan of "
        f'"{n["table"]}".',
        "Remove the check constraint in the same migration (RemoveConstraint).",
    )


def pg_volatile_default(n: Names) -> str:
    return _steps(
        f'Add "{n["column"]}" as a nullable column without a default (no rewrite).',
        "Set the default for new rows only: AlterField with the db_default (ALTER COLUMN SET DEFAULT does "
        "not rewrite).",
        f'Backfill the existing rows of "{n["table"]}" in batches with a RunPython that has a reverse.',
        "Make it NOT NULL with a NOT VALID check constraint, ValidateConstraint, then AlterField.",
    )


def mysql_table_copy(n: Names) -> str:
    if n.get("kind") == "foreign_key":
        return _steps(
            f"Create {n['model']}.{n['field']} with db_constraint=False: the column and its index are added "
            "in place, without copying the table.",
            f'Add the FOREIGN KEY to "{n["table"]}" in a maintenance window, or with an online schema change '
            "tool (gh-ost, pt-online-schema-change) that copies the table while writes continue.",
        )
    return change_type(n)


def pg_drop_index_not_concurrent(n: Names) -> str:
    return _steps(
        "Move the removal into its own migration with atomic = False.",
        f'Drop it with django.contrib.postgres.operations.RemoveIndexConcurrently("{n["model_name"]}", '
        f'"{n["name"]}"), or with SeparateDatabaseAndState(state_operations=[<this operation>], '
        f"database_operations=[migrations.RunSQL('{n['concurrent_sql']}')]).",
        "Run it with a lock_timeout (CICD['LOCK_TIMEOUT']): even CONCURRENTLY waits for the transactions "
        f'that use "{n["table"]}" to end.',
    )


def data_migration_unbatched(n: Names) -> str:
    return _steps(
        "Move the data change into its own migration with atomic = False, so that nothing else waits on its "
        "transaction.",
        f'Change "{n["table"]}" in batches of a few thousand primary keys, each batch in its own transaction: '
        + (
            f'loop over {n["model"]}.objects.filter(pk__gt=last).order_by("pk")[:1000] inside transaction.atomic().'
            if n.get("model")
            else "repeat the statement with a WHERE on a range of ids, one range per transaction."
        ),
        "Or run the backfill outside the deploy (a management command or a background job) and keep only "
        "the schema change in the migration.",
    )


def irreversible(n: Names) -> str:
    if n.get("direction") == "backwards":
        return _steps(
            "Restore the backup taken before the release instead of reversing: "
            "python manage.py rollback_release --restore-backup (data written since the backup is lost).",
            f"Or write the reverse now in {n['migration_path']} (reverse_code= for RunPython, reverse_sql= for "
            "RunSQL) in the code that runs the rollback: the reverse is read from that file.",
        )
    return _steps(
        f"Write the reverse: RunPython(forwards, reverse_code=backwards) or RunSQL(sql, reverse_sql=...) in "
        f"{n['migration_path']}.",
        "If the change truly cannot be undone, say so with reverse_code=migrations.RunPython.noop (reported as "
        "a no-op reverse) or accept cicd.safety.irreversible with a reason.",
        "Make sure a verified backup is taken before the deploy: python manage.py safe_migrate takes one.",
    )


def noop_reverse(n: Names) -> str:
    return _steps(
        "If the data change can be undone, write the reverse function instead of the no-op.",
        "Otherwise check that the previous release works with the data as this migration leaves it, and "
        "accept cicd.safety.noop_reverse with that reason.",
    )


def reverse_drops_column(n: Names) -> str:
    return _steps(
        f'Count what would be lost: SELECT COUNT(*) FROM "{n["table"]}" WHERE "{n["column"]}" IS NOT NULL.',  # noqa: S608 (advice text)
        "python manage.py rollback_release reports these counts and refuses without --accept-data-loss.",
        "Or roll back the code only: the previous release ignores the extra column, and the schema stays.",
    )


def reverse_drops_table(n: Names) -> str:
    return _steps(
        f'Count what would be lost: SELECT COUNT(*) FROM "{n["table"]}".',  # noqa: S608 (advice text)
        "python manage.py rollback_release reports the count and refuses without --accept-data-loss.",
        "Or roll back the code only: the previous release ignores the extra table, and the schema stays.",
    )


def reverse_data_migration(n: Names) -> str:
    return _steps(
        f"Read the reverse code in {n['migration_path']}: it runs on every row written since the deploy too.",
        "Rehearse the rollback on a copy of the database before running it on production.",
    )


def reverse_not_null_without_default(n: Names) -> str:
    return _steps(
        "Restore the backup taken before the release instead: python manage.py rollback_release --restore-backup.",
        f"For the future: before removing {n['model']}.{n['field']}, make it nullable or give it a db_default, "
        "so that the reverse of RemoveField can add it back.",
    )


def window_not_null_column(n: Names) -> str:
    return _steps(
        f"Keep the window short: reverse the schema and switch to the previous image in one go (rollback_release "
        f'does both). Inserts into "{n["table"]}" by the new release fail in between; to have none, stop the '
        f"writes to {n['model']} (maintenance mode, or scale the writers down) for the rollback.",
        "Do not switch the image first: the previous release selects the column, which is not back yet.",
        f'The rows get {n["default"]} in "{n["column"]}"; if the values they had matter, restore the backup '
        "taken before the deploy instead: python manage.py rollback_release --restore-backup.",
        f"For the future: remove a NOT NULL field in two releases (first give {n['model']}.{n['field']} a "
        "db_default or make it nullable, then remove it); its reverse then adds a column the new code's "
        "INSERTs can leave out.",
    )


def window_unique(n: Names) -> str:
    return _steps(
        f'Count the duplicates written since the deploy: SELECT {n["columns"]}, COUNT(*) FROM "{n["table"]}" '  # noqa: S608 (advice text)
        f"GROUP BY {n['columns']} HAVING COUNT(*) > 1; the reversal stops on the first one.",
        "Resolve them (merge or delete the extra rows) with a script you keep, right before the rollback.",
        "Switch to the previous image first (it expects the constraint and does not rely on duplicates), then "
        "reverse the migrations with this release's code: the new release's duplicate writes then never meet "
        "the constraint.",
    )


def window_drops_table(n: Names) -> str:
    return _steps(
        f'Switch to the previous image first: it does not know "{n["table"]}", so dropping it later breaks nothing.',
        "Then reverse the migrations with this release's code (its files hold the reverse): run "
        "python manage.py rollback_release from this release's image, after the previous image serves.",
        f'Count what the drop loses before it: SELECT COUNT(*) FROM "{n["table"]}".',  # noqa: S608 (advice text)
    )


def window_drops_column(n: Names) -> str:
    return _steps(
        f'Switch to the previous image first: it does not select "{n["table"]}"."{n["column"]}", so dropping the '
        "column later breaks nothing.",
        "Then reverse the migrations with this release's code (its files hold the reverse): run "
        "python manage.py rollback_release from this release's image, after the previous image serves.",
    )


def window_rename(n: Names) -> str:
    return _steps(
        f'Neither order is safe: the new release needs "{n["new_name"]}", the previous one "{n["old_name"]}". '
        "Stop the traffic that uses it (maintenance mode) for the rollback, or accept errors for its duration.",
        "Reverse the schema and switch the image in one go (rollback_release does both) to keep that window short.",
        "For the future: rename in the code only (db_column= / Meta.db_table=), or add the new name, write "
        "both, switch the reads, and drop the old one later (expand, then contract).",
    )


def acceptance_invalid(n: Names) -> str:
    return _steps(
        'Give each acceptance a reason: cicd_accept = {"cicd.safety.<rule>": "why the risk is acceptable here"}.',
        "Use a rule id listed in the migration safety docs.",
    )


def sql_not_rendered(n: Names) -> str:
    return _steps(
        f"Render it yourself to review it: python manage.py sqlmigrate {n['app']} {n['migration']}.",
        "The operations were analysed; only the rules that read the SQL were not applied to this migration.",
    )


HINTS: dict[str, Callable[[Names], str]] = {
    "remove_field": remove_field,
    "delete_model": delete_model,
    "rename_field": rename_field,
    "rename_model": rename_model,
    "alter_model_table": alter_model_table,
    "alter_field_type": change_type,
    "alter_field_null": alter_field_null,
    "add_field_not_null": add_field_not_null,
    "add_unique": add_unique,
    "pg_index_not_concurrent": pg_index_not_concurrent,
    "pg_foreign_key_not_valid": pg_foreign_key_not_valid,
    "pg_check_not_valid": pg_check_not_valid,
    "pg_set_not_null": pg_set_not_null,
    "pg_column_rewrite": change_type,
    "pg_volatile_default": pg_volatile_default,
    "mysql_table_copy": mysql_table_copy,
    "irreversible": irreversible,
    "noop_reverse": noop_reverse,
    "reverse_drops_column": reverse_drops_column,
    "reverse_drops_table": reverse_drops_table,
    "reverse_data_migration": reverse_data_migration,
    "reverse_not_null_without_default": reverse_not_null_without_default,
    "pg_drop_index_not_concurrent": pg_drop_index_not_concurrent,
    "data_migration_unbatched": data_migration_unbatched,
    "window_not_null_column": window_not_null_column,
    "window_unique": window_unique,
    "window_drops_table": window_drops_table,
    "window_drops_column": window_drops_column,
    "window_rename": window_rename,
    "acceptance_invalid": acceptance_invalid,
    "sql_not_rendered": sql_not_rendered,
}


def concurrently(statement: str) -> str:
    """``CREATE [UNIQUE] INDEX name`` rewritten as ``CREATE [UNIQUE] INDEX CONCURRENTLY name``."""
    return re.sub(r"^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX)\s+", r"\1 CONCURRENTLY ", statement.rstrip(";"), flags=re.I)
