from django.db import migrations

# Only cleans data: its no-op reverse is reported, and does not fail predeploy at its default level.


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_alter_gadget_weight")]

    operations = [
        migrations.RunSQL("DELETE FROM catalog_maker WHERE name = ''", reverse_sql=migrations.RunSQL.noop),
    ]
