from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0012_gadget_created")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(model_name="gadget", name="shadow", field=models.IntegerField(null=True)),
                migrations.CreateModel(
                    name="Ghost",
                    fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False))],
                ),
            ]
        ),
    ]
