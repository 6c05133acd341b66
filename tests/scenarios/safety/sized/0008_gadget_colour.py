from django.db import migrations, models


def fill_colours(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    # A schema change and a data change with a no-op reverse: the rollback drops the column, and
    # whatever else the function changed stays.
    dependencies = [("catalog", "0007_batched_fill")]

    operations = [
        migrations.AddField(model_name="gadget", name="colour", field=models.CharField(max_length=20, null=True)),
        migrations.RunPython(fill_colours, migrations.RunPython.noop),
    ]
