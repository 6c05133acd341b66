from tests.utils import run_command


def test_predeploy_lists_the_builtin_checks():
    stdout, stderr, code = run_command("predeploy", "--list")
    assert code == 0, stderr
    ids = [line.split()[0] for line in stdout.splitlines()]
    assert ids[0] == "cicd.django.checks"
    assert {"cicd.migrations.missing", "cicd.database.reachable", "cicd.static.collect", "cicd.waivers"} <= set(ids)
