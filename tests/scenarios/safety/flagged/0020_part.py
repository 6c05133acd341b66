from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0019_remove_gadget_serial")]

    operations = [
        migrations.CreateModel(
            name="Part",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=20)),
            ],
        ),
    ]
