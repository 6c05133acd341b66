from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_order_note")]

    operations = [migrations.AddField("order", "gift_note", models.CharField(max_length=100, null=True, blank=True))]
