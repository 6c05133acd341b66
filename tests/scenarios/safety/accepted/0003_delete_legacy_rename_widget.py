from django.db import migrations

from django_cicd.migrations_safety import accept


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_remove_gadget_legacy")]

    operations = [
        accept(
            migrations.DeleteModel(name="Legacy"),
            "cicd.safety.delete_model",
            "nothing reads Legacy since release 40",
        ),
        migrations.RenameModel(
            old_name="Widget",
            new_name="Gizmo",
        ),
    ]
