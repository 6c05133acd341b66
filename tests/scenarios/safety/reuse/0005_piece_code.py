from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_piece_shares_part")]

    operations = [
        migrations.AddField(model_name="piece", name="code", field=models.CharField(max_length=10, default="x")),
    ]
