from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_forget_gadget_legacy")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Legacy")]),
    ]
