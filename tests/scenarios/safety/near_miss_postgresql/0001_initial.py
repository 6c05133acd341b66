from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Maker",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        migrations.CreateModel(
            name="Gadget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("code", models.CharField(max_length=20, null=True)),
                ("legacy", models.CharField(max_length=50, default="", blank=True)),
                ("serial", models.IntegerField()),
                ("size", models.IntegerField(default=0)),
                ("weight", models.IntegerField(default=0)),
                ("notes", models.CharField(max_length=100)),
                ("title", models.CharField(max_length=10)),
                ("nickname", models.CharField(max_length=30, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="Legacy",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False))],
        ),
        migrations.CreateModel(
            name="Widget",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False))],
        ),
        migrations.CreateModel(
            name="Thing",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False))],
        ),
    ]
