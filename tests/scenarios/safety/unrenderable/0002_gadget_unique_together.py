from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    # Like Wagtail's old migrations: this AlterUniqueTogether looks up the constraint it replaces in
    # today's database, where it does not exist, and the schema editor raises.
    operations = [
        migrations.AlterUniqueTogether(name="gadget", unique_together={("name", "notes")}),
        migrations.RemoveField(model_name="gadget", name="legacy"),
    ]
