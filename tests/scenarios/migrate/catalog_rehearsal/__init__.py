"""catalog 0001-0005 as in the testproject, then 0006: a data migration written the usual way (no
``.using(schema_editor.connection.alias)``). What it does is chosen by CICD_TEST_REHEARSAL_CASE (see
``_cases.py``), so the same package serves tests in this process and in subprocesses."""
