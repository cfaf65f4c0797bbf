"""The ACME account: one per directory, shared by every worker (the CA's limits count per account), and a
session connected and registered with it."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from certificates import acme_client
from certificates.crypto import decrypt_secret, encrypt_secret
from certificates.models import AcmeAccount


def acme_account_get(directory_url: str, *, email: str = "") -> AcmeAccount:
    """The one account for this directory, created once whichever worker gets there first."""
    account = AcmeAccount.objects.filter(directory_url=directory_url).first()
    if account is not None:
        return account
    key_pem = acme_client.generate_private_key_pem()
    try:
        with transaction.atomic():
            return AcmeAccount.objects.create(
                directory_url=directory_url, email=email, key_encrypted=encrypt_secret(key_pem.encode("ascii"))
            )
    except IntegrityError:
        return AcmeAccount.objects.get(directory_url=directory_url)


def acme_session() -> acme_client.AcmeSession:
    """Connected and registered with the configured directory (HOSTPANEL_ACME_*). Raises AcmeError."""
    directory_url = settings.HOSTPANEL_ACME_DIRECTORY
    if not directory_url:
        raise acme_client.AcmeError("ACME is not configured (HOSTPANEL_ACME_DIRECTORY is empty).", outcome="error")
    account = acme_account_get(directory_url, email=settings.HOSTPANEL_ACME_EMAIL)
    session = acme_client.acme_connect(
        directory_url,
        account_key_pem=decrypt_secret(account.key_encrypted).decode("ascii"),
        account_url=account.account_url,
        ca_bundle=settings.HOSTPANEL_ACME_CA_BUNDLE,
    )
    if not account.account_url:
        url = acme_client.account_ensure(session, email=account.email)
        AcmeAccount.objects.filter(pk=account.pk, account_url="").update(account_url=url)
    return session
