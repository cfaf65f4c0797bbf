"""The upload form of a customer's own certificate: it only carries the PEM texts (pasted or as files) to
sites.services.site_certificate_upload, whose checks name the field that failed. The private key is never
rendered back: after a failed try the form keeps the certificate and intermediates (a chosen file's text
included) and says that the key has to be given again."""

from __future__ import annotations

from django import forms

from hostpanel.forms import ServiceForm

MAX_PEM_BYTES = 64 * 1024
KEY_NOT_KEPT = (
    "The private key is not shown again after a failed try (it is secret): paste it or choose its file once more. "
    "The certificate and intermediates above are kept as you gave them."
)


class SecretTextarea(forms.Textarea):
    """A textarea that never shows its value again (a re-displayed form must not echo the private key)."""

    def format_value(self, value):
        return None


def _pem_file(label: str) -> forms.FileField:
    return forms.FileField(label=f"…or the {label} file", required=False)


class CertificateUploadForm(ServiceForm):
    certificate_pem = forms.CharField(
        label="Certificate (PEM)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "pem"}),
        help_text="-----BEGIN CERTIFICATE----- …; intermediates may follow it.",
    )
    certificate_file = _pem_file("certificate")
    private_key_pem = forms.CharField(
        label="Private key (PEM)",
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off", "class": "pem"}),
        help_text="Unencrypted; RSA 2048+ bits or ECDSA P-256/P-384. Stored encrypted, never shown again.",
    )
    private_key_file = _pem_file("private key")
    chain_pem = forms.CharField(
        label="Intermediate certificates (PEM)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "pem"}),
        help_text="Optional when they follow the certificate above.",
    )
    chain_file = _pem_file("intermediates")

    def _text(self, name: str) -> str:
        upload = self.cleaned_data.get(name.replace("_pem", "_file"))
        if not upload:
            return self.cleaned_data.get(name) or ""
        if upload.size > MAX_PEM_BYTES:
            self.add_error(name, "The file is larger than 64 KB: a PEM file is expected.")
            return ""
        try:
            text = upload.read().decode("ascii")
        except UnicodeDecodeError:
            self.add_error(name, "The file is not PEM text.")
            return ""
        if name != "private_key_pem":  # a re-displayed form shows the file's text, so nothing has to be chosen again
            self.data = self.data.copy()
            self.data[name] = text
        return text

    def clean(self):
        cleaned = super().clean()
        texts = {name: self._text(name) for name in ("certificate_pem", "private_key_pem", "chain_pem")}
        for name in ("certificate_pem", "chain_pem"):
            if "PRIVATE KEY-----" in texts[name]:  # a key pasted into the wrong field is never shown again either
                self.data = self.data.copy()
                self.data[name] = ""
        for name, text in texts.items():
            if len(text) > MAX_PEM_BYTES:
                self.add_error(name, "Larger than 64 KB: a PEM text is expected.")
        cleaned.update(texts)
        return cleaned

    def say_the_key_is_not_kept(self) -> None:
        """After a failed try: the form keeps the certificate and intermediates it was given, never the key."""
        self.fields["private_key_pem"].help_text = KEY_NOT_KEPT
        self["private_key_pem"].help_text = KEY_NOT_KEPT  # the bound field copied the old text when it was made

    def service_kwargs(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("certificate_pem", "private_key_pem", "chain_pem")}
