"""One test per system check id of CICD["MIGRATION_SAFETY"] (django_cicd.E020 to E023)."""

from __future__ import annotations

from django.test import override_settings

from django_cicd.migrations_safety.acceptance import accept, app_acceptances
from django_cicd.system_checks import check_cicd_settings


@override_settings(CICD={"MIGRATION_SAFETY": {"catalog": {"accept": {"cicd.safety.add_unique": "40 rows, checked"}}}})
def test_valid_per_app_acceptance_passes():
    assert check_cicd_settings() == []


@override_settings(CICD={"MIGRATION_SAFETY": {"catalog": {"acept": {}}}})
def test_e020_unknown_option():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E020"
    assert error.msg == "CICD['MIGRATION_SAFETY']['catalog'] has an unknown option 'acept'."
    assert error.hint == "Allowed: accept."


@override_settings(CICD={"MIGRATION_SAFETY": {"catalog": {"accept": {"cicd.safety.add_unique": " "}}}})
def test_e021_acceptance_without_a_reason():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E021"
    assert (
        error.msg == "CICD['MIGRATION_SAFETY']['catalog']['accept'] accepts 'cicd.safety.add_unique' without a reason."
    )


@override_settings(CICD={"MIGRATION_SAFETY": {"catalog": {"accept": ["cicd.safety.add_unique"]}}})
def test_e021_accept_must_be_a_dict():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E021"
    assert error.msg == "CICD['MIGRATION_SAFETY']['catalog']['accept'] must be a dict of rule id to reason, not list."


@override_settings(CICD={"MIGRATION_SAFETY": {"catalog": {"accept": {"add_uniq": "why"}}}})
def test_e022_unknown_rule_suggests_the_close_one():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E022"
    assert error.msg == (
        "CICD['MIGRATION_SAFETY']['catalog']['accept'] accepts the unknown rule 'add_uniq'. "
        "Did you mean 'cicd.safety.add_unique'?"
    )


@override_settings(CICD={"MIGRATION_SAFETY": {"catalog": {"accept": {"cicd.safety.sql_not_rendered": "why"}}}})
def test_e022_rule_that_cannot_be_accepted():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E022"
    assert error.msg.endswith("accepts 'cicd.safety.sql_not_rendered', which cannot be accepted.")


@override_settings(CICD={"MIGRATION_SAFETY": {"catalogue": {"accept": {}}}})
def test_e023_app_not_installed():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E023"
    assert error.msg == "CICD['MIGRATION_SAFETY']['catalogue'] names the app label 'catalogue', which is not installed."
    assert error.hint == "Did you mean 'catalog'?"


def test_invalid_entries_accept_nothing():
    value = {"catalog": {"accept": {"cicd.safety.add_unique": "", "cicd.safety.remove_field": "old column"}}}
    assert app_acceptances(value) == {"catalog": {"cicd.safety.remove_field": "old column"}}


def test_accept_marks_an_operation_and_returns_it():
    from django.db import migrations

    operation = migrations.RemoveField("product", "legacy_code")
    assert accept(operation, "cicd.safety.remove_field", "why") is operation
    accept(operation, "cicd.safety.reverse_not_null_without_default", "backup exists")
    assert operation.cicd_accept == {
        "cicd.safety.remove_field": "why",
        "cicd.safety.reverse_not_null_without_default": "backup exists",
    }


@override_settings(CICD={"MIGRATION_SAFETY": {"SMALL_TABLE_ROWS": 50_000, "catalog": {"accept": {}}}})
def test_small_table_rows_beside_the_app_labels_passes():
    from django_cicd.conf import cicd_settings

    assert check_cicd_settings() == []
    assert cicd_settings.SMALL_TABLE_ROWS == 50_000


@override_settings(CICD={"MIGRATION_SAFETY": {"SMALL_TABLE_ROWS": "10k"}})
def test_e024_small_table_rows_must_be_a_number():
    from django_cicd.conf import cicd_settings

    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E024"
    assert error.msg == "CICD['MIGRATION_SAFETY']['SMALL_TABLE_ROWS'] must be a whole number of rows >= 0, not '10k'."
    assert cicd_settings.SMALL_TABLE_ROWS == 10_000


@override_settings(CICD={"MIGRATION_SAFETY": {"SMALL_TABLE_ROW": 5}})
def test_e024_unknown_option_suggests_the_close_one():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E024"
    assert error.msg == "CICD['MIGRATION_SAFETY'] has an unknown option 'SMALL_TABLE_ROW'."
    assert error.hint == "Did you mean 'SMALL_TABLE_ROWS'?"
