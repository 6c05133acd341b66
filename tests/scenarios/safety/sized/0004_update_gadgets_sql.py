from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_fill_gadgets")]

    operations = [
        migrations.RunSQL(
            "UPDATE catalog_gadget SET weight = 2 WHERE weight = 1",
            reverse_sql="UPDATE catalog_gadget SET weight = 1 WHERE weight = 2",
        ),
    ]
