from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0013_shadow_state")]

    operations = [
        migrations.CreateModel(
            name="Scratch",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False))],
        ),
    ]
