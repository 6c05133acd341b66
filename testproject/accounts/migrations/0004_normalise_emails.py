from django.db import migrations


def lowercase_emails(apps, schema_editor):
    Customer = apps.get_model("accounts", "Customer")
    for customer in Customer.objects.using(schema_editor.connection.alias).iterator():
        if customer.email != customer.email.lower():
            customer.email = customer.email.lower()
            customer.save(update_fields=["email"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_rename_name_customer_full_name")]

    # No reverse: the original capitalisation is not kept anywhere. predeploy reports that a rollback
    # past this migration must restore a backup; the team accepted that when the migration shipped.
    cicd_accept = {
        "cicd.safety.irreversible": "the original capitalisation is not kept; roll back past it with "
        "rollback_release --restore-backup",
    }

    operations = [migrations.RunPython(lowercase_emails)]
