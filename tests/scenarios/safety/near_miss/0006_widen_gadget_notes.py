from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_rename_widget_keep_table")]

    operations = [
        migrations.AlterField(model_name="gadget", name="notes", field=models.CharField(max_length=200)),
        migrations.AlterField(
            model_name="gadget", name="title", field=models.CharField(max_length=20, help_text="shown on the label")
        ),
    ]
