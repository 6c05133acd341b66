"""The rules of the migration safety analysis: stable ids, severity, vendor scope, explanation.

The detection lives in :mod:`django_cicd.migrations_safety.analysis`; this module is the catalogue
that the docs, the acceptance markers and the system checks read. Rule ids never change meaning:
a rule that is no longer wanted is retired, not reused.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_cicd.report import Severity

PREFIX = "cicd.safety."


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    #: ``connection.vendor`` values the rule applies to; empty means every vendor.
    vendors: tuple[str, ...]
    #: "deploy": breaks or locks while the migration runs; "rollback": bites when the plan is reversed.
    when: str
    #: Why it is dangerous, in one or two sentences (the docs and SARIF show it).
    explanation: str
    #: False for rules about the analysis itself (an invalid acceptance cannot be accepted).
    acceptable: bool = True
    #: Analysed in which direction of a plan: "forwards", "backwards" or both.
    directions: tuple[str, ...] = ("forwards",)
    #: Graded by the size of the table (a lock or a rewrite): an error from
    #: ``CICD["MIGRATION_SAFETY"]["SMALL_TABLE_ROWS"]`` rows, a warning under it.
    sized: bool = False

    def applies_to(self, vendor: str) -> bool:
        return not self.vendors or vendor in self.vendors


def _rule(
    name: str,
    title: str,
    severity: Severity,
    explanation: str,
    *,
    vendors: tuple[str, ...] = (),
    when: str = "deploy",
    acceptable: bool = True,
    directions: tuple[str, ...] = ("forwards",),
    sized: bool = False,
) -> Rule:
    return Rule(PREFIX + name, title, severity, vendors, when, explanation, acceptable, directions, sized)


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
BOTH = ("forwards", "backwards")
BACK = ("backwards",)

_ALL = [
    # --- breaks the code that is still running during a rolling deploy ---------------------------
    _rule(
        "remove_field",
        "A column is dropped while the running release still uses it",
        E,
        "The release being replaced selects and inserts every field of its models: once the column is "
        "gone, its queries fail until the last old process stops. The data in the column is lost.",
    ),
    _rule(
        "delete_model",
        "A table is dropped while the running release still uses it",
        E,
        "The release being replaced still queries the model: once the table is gone its requests fail. "
        "The rows in the table are lost.",
    ),
    _rule(
        "rename_field",
        "A column is renamed while the running release uses the old name",
        E,
        "Renaming a column is instant, but the old code keeps selecting the old name and fails until "
        "every old process is gone.",
    ),
    _rule(
        "rename_model",
        "A table is renamed while the running release uses the old name",
        E,
        "The old code keeps querying the old table name and fails until every old process is gone.",
    ),
    _rule(
        "alter_model_table",
        "A table is renamed by a change of db_table",
        E,
        "The old code keeps querying the old table name and fails until every old process is gone.",
    ),
    _rule(
        "alter_field_type",
        "A column changes type",
        E,
        "The old code reads and writes values of the old type; depending on the vendor the change also "
        "rewrites the table under a lock.",
    ),
    _rule(
        "alter_field_null",
        "A nullable column becomes NOT NULL",
        E,
        "The old code may still write NULL into the column, and those INSERTs and UPDATEs fail; the "
        "migration itself fails if a NULL is already there.",
    ),
    _rule(
        "add_field_not_null",
        "A NOT NULL column without a database default is added to an existing table",
        E,
        "Django fills existing rows with the Python default and then drops the database default, so "
        "the old code, which does not know the column, fails on every INSERT.",
    ),
    _rule(
        "add_unique",
        "A unique constraint or unique index is added to an existing table",
        E,
        "The migration fails when duplicates exist, and the old code keeps writing duplicates while it "
        "runs; the index is built under a lock on most vendors.",
    ),
    # --- locks or rewrites a table (vendor specific, found in the SQL) ----------------------------
    _rule(
        "pg_index_not_concurrent",
        "An index is built without CONCURRENTLY",
        E,
        "CREATE INDEX takes a SHARE lock: every INSERT, UPDATE and DELETE on the table waits until the "
        "index is built, which on a large table takes minutes.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "pg_foreign_key_not_valid",
        "A foreign key is added and validated in one step",
        E,
        "Adding a foreign key checks every row while holding a SHARE ROW EXCLUSIVE lock on both tables, "
        "blocking writes to both.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "pg_check_not_valid",
        "A check constraint is added and validated in one step",
        E,
        "Adding a check constraint scans every row under an ACCESS EXCLUSIVE lock: reads and writes wait.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "pg_set_not_null",
        "SET NOT NULL scans the table under an exclusive lock",
        E,
        "ALTER COLUMN ... SET NOT NULL scans every row under an ACCESS EXCLUSIVE lock unless a valid "
        "CHECK (column IS NOT NULL) constraint already proves it.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "pg_column_rewrite",
        "A column type change rewrites the table",
        E,
        "Most type changes rewrite the whole table and its indexes under an ACCESS EXCLUSIVE lock. "
        "Widening a varchar or turning it into text does not.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "pg_volatile_default",
        "A column is added with a volatile default",
        E,
        "A volatile default (random(), gen_random_uuid(), clock_timestamp(), a sequence) is computed "
        "per row, so PostgreSQL rewrites the table under an ACCESS EXCLUSIVE lock.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "mysql_table_copy",
        "The ALTER TABLE copies the whole table",
        E,
        "MySQL and MariaDB run this change with ALGORITHM=COPY: the table is copied row by row and "
        "writes are blocked until the copy ends.",
        vendors=("mysql",),
        sized=True,
    ),
    _rule(
        "pg_drop_index_not_concurrent",
        "An index is dropped without CONCURRENTLY",
        E,
        "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table: while it waits for running queries to "
        "finish, every read and write queued behind it waits too.",
        vendors=("postgresql",),
        sized=True,
    ),
    _rule(
        "data_migration_unbatched",
        "A data migration goes over a large table in one transaction",
        E,
        "A RunPython or an UPDATE/DELETE in RunSQL over a large table runs as one transaction: every row it "
        "changes stays locked until the migration ends, the transaction holds back vacuum and replication, "
        "and a failure near the end throws all of it away.",
        sized=True,
    ),
    # --- cannot be undone --------------------------------------------------------------------------
    _rule(
        "irreversible",
        "An operation has no reverse",
        W,
        "RunPython without reverse_code or RunSQL without reverse_sql cannot be undone: reversing the "
        "plan stops there with IrreversibleError, and only a backup brings the database back.",
        when="rollback",
        directions=BOTH,
    ),
    _rule(
        "noop_reverse",
        "The reverse is a no-op: the schema goes back, the data does not",
        W,
        "The reverse of this operation does nothing, so a rollback leaves the data as this migration "
        "changed it while the schema and the code go back.",
        when="rollback",
        directions=BOTH,
    ),
    # --- loses data when reversed (analysed on backwards plans) ------------------------------------
    _rule(
        "reverse_drops_column",
        "Reversing AddField drops a column and its data",
        W,
        "The reverse of AddField is a DROP COLUMN: whatever was written into it since the deploy is lost.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "reverse_drops_table",
        "Reversing CreateModel drops a table and its rows",
        W,
        "The reverse of CreateModel (or of a many-to-many AddField) is a DROP TABLE: every row written "
        "since the deploy is lost.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "reverse_data_migration",
        "Reversing a data migration changes data",
        W,
        "The reverse code of this RunPython/RunSQL rewrites or deletes rows; anything written since the "
        "deploy that it touches is changed too.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "reverse_not_null_without_default",
        "Reversing RemoveField re-adds a NOT NULL column without a default",
        E,
        "Reversing RemoveField adds the column back; a NOT NULL column without a default cannot be "
        "added to a table that has rows (Django ticket #26739), so the rollback stops there.",
        when="rollback",
        directions=BACK,
    ),
    # --- breaks the new code while the schema goes back (analysed on backwards plans) -------------
    _rule(
        "window_not_null_column",
        "Reversing RemoveField re-adds a NOT NULL column the new code does not write",
        W,
        "The rollback adds the column back NOT NULL without a database default, while the new release, "
        "which does not know the column, keeps serving: its INSERTs fail until the previous image runs. "
        "The rows get the model's default, not the values they had before the deploy.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "window_unique",
        "Reversing re-adds a unique constraint the new code does not respect",
        W,
        "The new release may have written duplicates since the deploy: the reversal fails on them, and once "
        "the constraint is back, the new release's duplicate writes fail until the previous image runs.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "window_drops_table",
        "Reversing drops a table the new code uses",
        W,
        "The rollback drops the table while the new release still reads and writes it: its requests on "
        "that model fail until the previous image runs.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "window_drops_column",
        "Reversing drops a column the new code uses",
        W,
        "The rollback drops the column while the new release still selects and writes it: every query on "
        "that model fails until the previous image runs.",
        when="rollback",
        directions=BACK,
    ),
    _rule(
        "window_rename",
        "Reversing renames a table or column back while the new code uses the new name",
        W,
        "The new release queries the name the deploy gave; once the rollback renames it back, those "
        "queries fail until the previous image runs, and the previous image fails before the rename.",
        when="rollback",
        directions=BACK,
    ),
    # --- about the analysis itself -----------------------------------------------------------------
    _rule(
        "acceptance_invalid",
        "A risk acceptance is invalid",
        E,
        "An acceptance must name a known rule and give a reason; an acceptance without a reason is "
        "an error, and it accepts nothing.",
        acceptable=False,
        directions=BOTH,
    ),
    _rule(
        "sql_not_rendered",
        "The SQL of a migration could not be rendered",
        INFO,
        "The schema editor raised while collecting the SQL (for instance an old AlterUniqueTogether "
        "that introspects today's schema); the operations were analysed, the SQL rules were not.",
        acceptable=False,
    ),
]

#: Every rule by id, in the order the docs list them.
RULES: dict[str, Rule] = {rule.id: rule for rule in _ALL}


def rule(name_or_id: str) -> Rule:
    """The rule named ``remove_field`` or ``cicd.safety.remove_field``."""
    return RULES[name_or_id if name_or_id.startswith(PREFIX) else PREFIX + name_or_id]
