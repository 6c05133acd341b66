from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0016_touch_gadgets")]

    operations = [
        migrations.RunSQL("UPDATE catalog_gadget SET weight = 1 WHERE weight = 0"),
    ]
