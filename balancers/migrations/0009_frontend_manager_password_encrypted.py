"""The balancer-manager password is stored Fernet-encrypted with HOSTPANEL_SECRETS_KEY (certificates.crypto),
like private keys: existing passwords are encrypted on the way forward and decrypted on the way back."""

from django.db import migrations, models

from certificates.crypto import SecretsError, decrypt_secret, encrypt_secret

NO_KEY = (
    "{count} front-end(s) have a balancer-manager password, and HOSTPANEL_SECRETS_KEY is not set: it is "
    "needed to store them encrypted. Set it (README, Keys at rest) and run migrate again."
)


def encrypt_passwords(apps, schema_editor):
    FrontEnd = apps.get_model("balancers", "FrontEnd")
    rows = FrontEnd.objects.using(schema_editor.connection.alias).exclude(manager_password="")
    for frontend in rows:
        try:
            frontend.manager_password_encrypted = encrypt_secret(frontend.manager_password.encode("utf-8"))
        except SecretsError:
            raise RuntimeError(NO_KEY.format(count=rows.count())) from None
        frontend.manager_password = ""
        frontend.save(update_fields=["manager_password_encrypted", "manager_password"])


def decrypt_passwords(apps, schema_editor):
    FrontEnd = apps.get_model("balancers", "FrontEnd")
    rows = FrontEnd.objects.using(schema_editor.connection.alias).exclude(manager_password_encrypted="")
    for frontend in rows:
        frontend.manager_password = decrypt_secret(frontend.manager_password_encrypted).decode("utf-8")
        frontend.save(update_fields=["manager_password"])


class Migration(migrations.Migration):
    dependencies = [
        ("balancers", "0008_routes_base_and_blobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="frontend",
            name="manager_password_encrypted",
            field=models.TextField(
                blank=True,
                help_text="The balancer-manager password, Fernet-encrypted (certificates.crypto); write-only.",
            ),
        ),
        migrations.RunPython(encrypt_passwords, decrypt_passwords, elidable=False),
        migrations.RemoveField(model_name="frontend", name="manager_password"),
    ]
