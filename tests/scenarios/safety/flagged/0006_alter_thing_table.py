from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_rename_widget_gizmo")]

    operations = [
        migrations.AlterModelTable(name="thing", table="catalog_thing_v2"),
    ]
