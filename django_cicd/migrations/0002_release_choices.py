# The Kind and Status choices now use their enum labels (no database change).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_cicd", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="release",
            name="kind",
            field=models.CharField(
                choices=[("deploy", "Deploy"), ("rollback", "Rollback")], default="deploy", max_length=16
            ),
        ),
        migrations.AlterField(
            model_name="release",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("migrating", "Migrating"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("recovered", "Recovered"),
                    ("rolled_back", "Rolled Back"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
    ]
