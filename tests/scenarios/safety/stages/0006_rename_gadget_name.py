from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_gadget_nickname_not_null")]

    operations = [
        migrations.RenameField(model_name="gadget", old_name="name", new_name="title"),
    ]
