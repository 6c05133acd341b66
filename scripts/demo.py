"""The README demo: django-cicd on the bundled testproject, with SQLite, from a fresh directory.

Each step prints the command it runs and that command's real output. Run it with `make demo`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "var" / "demo"


def step(
    title: str, *args: str, expect: int = 0, cwd: Path = ROOT, shown: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    where = "" if cwd == ROOT else f"({cwd.relative_to(ROOT)}) "
    prefix = "".join(f"{name}={value} " for name, value in (env or {}).items())
    print(f"\n=== {title}\n{where}$ {prefix}python manage.py {shown or ' '.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        text=True,
        capture_output=True,
        check=False,
    )
    print(result.stdout, end="")
    if result.stderr:
        print(result.stderr, end="", file=sys.stderr)
    print(f"(exit code {result.returncode})", flush=True)
    if result.returncode != expect:
        sys.exit(f"demo: expected exit code {expect} from `manage.py {' '.join(args)}`, got {result.returncode}")
    return result


shutil.rmtree(DEMO, ignore_errors=True)
DEMO.mkdir(parents=True)
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "testproject.settings",
    "DJANGO_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": f"sqlite:///{DEMO / 'db.sqlite3'}",
    "BACKUP_DIR": str(DEMO / "backups"),
    "STATIC_ROOT": str(DEMO / "static"),
}
ENV.pop("CACHE_URL", None)

step("Is this build fit to ship? (production settings, fresh SQLite database)", "predeploy")
step(
    "The same report as JSON for CI, written to a file",
    "predeploy",
    "--format",
    "json",
    "--output",
    str(DEMO / "predeploy.json"),
)
REPORT = (DEMO / "predeploy.json").read_text().splitlines()
print(f"\n$ head -n 12 {(DEMO / 'predeploy.json').relative_to(ROOT)}")
print("\n".join(REPORT[:12]))
print(f"... ({len(REPORT)} lines in all)")
step(
    "A build with DEBUG switched on is refused (exit code 1)",
    "predeploy",
    "--only",
    "cicd.django",
    expect=1,
    env={"DEBUG": "True"},
)

step(
    "The environment contract of the production stage (secrets shown as set/unset only)", "env", "--stage", "production"
)
step("What safe_migrate would apply, changing nothing", "safe_migrate", "--plan")
step(
    "Apply release 1 the safe way: deploy lock, safety gate, verified backup, ledger",
    "safe_migrate",
    "--release",
    "demo-1",
)
step("A second replica starting the same release finds nothing to do", "safe_migrate", "--release", "demo-1")
step("The release ledger", "releases")

# Release 2 is built the way a developer makes one: a copy of the project (the "build"), a new
# nullable field on catalog.Product and a new orders.Shipment model, and makemigrations for both.
RELEASE_2 = DEMO / "release-2"
shutil.copytree(ROOT / "testproject", RELEASE_2 / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
shutil.copy(ROOT / "manage.py", RELEASE_2 / "manage.py")
catalog_models = RELEASE_2 / "testproject" / "catalog" / "models.py"
catalog_models.write_text(
    catalog_models.read_text().replace(
        "    price = models.DecimalField(",
        "    subtitle = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001\n"
        "    price = models.DecimalField(",
        1,
    )
)
orders_models = RELEASE_2 / "testproject" / "orders" / "models.py"
orders_models.write_text(
    orders_models.read_text() + "\n\nclass Shipment(models.Model):\n"
    '    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")\n'
    "    carrier = models.CharField(max_length=50)\n"
)
SCHEMA = ("shell", "--no-imports", "-c")
SCHEMA_CODE = (
    "from django.db import connection\n"
    "tables = connection.introspection.table_names()\n"
    "for table in ('catalog_product', 'orders_shipment'):\n"
    "    if table not in tables:\n"
    "        print(f'{table}: (no such table)')\n"
    "        continue\n"
    "    with connection.cursor() as cursor:\n"
    "        columns = connection.introspection.get_table_description(cursor, table)\n"
    "    print(f'{table}: ' + ', '.join(c.name for c in columns))\n"
)
step("Release 2 adds a field and a model: its migrations", "makemigrations", "catalog", "orders", cwd=RELEASE_2)
SHOWN = "shell -c '<print the columns of catalog_product and orders_shipment>'"
step("The schema before release 2", *SCHEMA, SCHEMA_CODE, shown=SHOWN)
step("Deploy release 2 (from its build)", "safe_migrate", "--release", "demo-2", cwd=RELEASE_2)
step("The schema with release 2", *SCHEMA, SCHEMA_CODE, shown=SHOWN, cwd=RELEASE_2)

# Release 2 is live and writes to its new column; then it has to go. The rollback runs with release
# 2's code (it holds the migration files to reverse), before the old image comes back.
step("The rollback plan back to demo-1, changing nothing", "rollback_release", "--plan", cwd=RELEASE_2)
WRITE_CODE = (
    "from testproject.catalog.models import Product\n"
    "Product.objects.create(name='Kettle', price=30, subtitle='1.7 l')\n"
)
step(
    "Release 2 writes to its new column",
    *SCHEMA,
    WRITE_CODE,
    shown="shell -c '<create a product with a subtitle>'",
    cwd=RELEASE_2,
)
step(
    "Rolling back would drop a column that holds data: refused (exit code 1)",
    "rollback_release",
    "--noinput",
    cwd=RELEASE_2,
    expect=1,
)
step(
    "Roll back, accepting the loss (a verified backup is taken first)",
    "rollback_release",
    "--noinput",
    "--accept-data-loss",
    cwd=RELEASE_2,
)
step("The schema after the rollback", *SCHEMA, SCHEMA_CODE, shown=SHOWN)
step("The release ledger, with the rollback", "releases")
print("\ndemo finished")
