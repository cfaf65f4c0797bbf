"""TLS certificates for client sites: ACME issuance and renewal for all front-ends at once, customers' own
certificates, keys encrypted at rest.

Modules (each one job)::

    models.py       Certificate (one per site), AcmeAttempt (every attempt a row), AcmeAccount (one per directory)
    choices.py      CertificateStatus, CertificateSource, AttemptOutcome
    crypto.py       encrypt_secret / decrypt_secret (Fernet, HOSTPANEL_SECRETS_KEY)
    validation.py   validate_custom_certificate (checks at the door), parse_issued, covers
    acme_client.py  the only module speaking ACME (certbot's `acme` package): acme_connect, account_ensure,
                    order_certificate, renewal_time, AcmeError
    preflight.py    preflight_check: do the names resolve to our front-ends and serve our check file?
    publishing.py   ChallengePublisher protocol (the seam to the deploy side), DirectoryPublisher,
                    register_frontends_publisher / frontends_publisher
    services.py     writes: certificate_ensure, certificate_set_custom, certificate_request_renewal,
                    certificate_issue, certificates_run_due, certificate_key_pem
    selectors.py    reads: certificates_due, certificates_needing_attention, certificate_for_site,
                    certificate_attempts
    tasks.py        renew_certificates (the periodic scan)

The doors (API and pages)::

    follow.py        certificate_follow_site: called by sites.services after every site write (order for
                     tls=acme, renew when the names change, stop ordering for custom/none)
    site_services.py site_certificate_upload (own certificate + tls=custom, one transaction, deploy queued),
                     site_certificate_renew ("Renew now", tls=acme only)
    selectors.py     (end) SiteCertificate / CertificateDetail read models: certificate_of,
                     certificate_summary, certificate_detail (the API derives its serializers from them)
    forms.py, views.py, urls.py   "Upload own certificate" and "Renew now" under /sites/<domain>/certificate/

For the integration phase (rendering, deploy, API, UI):

- the deploy side implements ChallengePublisher (upload into the challenge directory of every enabled
  front-end, raise if one fails) and registers it with register_frontends_publisher() at start-up;
- the renderer reads a site's Certificate: an HTTPS vhost when `has_live_certificate` (status valid,
  renewing or, until replaced, expired), SSLCertificateFile = `fullchain_pem`, SSLCertificateKeyFile =
  certificate_key_pem() written 0600 by the deploy step only;
- a new or renewed certificate changes `serial` and `updated_at`: the deploy side batches those into one
  graceful reload per front-end;
- the site service calls certificate_ensure() when Site.tls becomes acme, and certificate_request_renewal()
  when its names change; the API/UI call certificate_set_custom() and certificate_request_renewal(), and
  read certificate_for_site(), certificate_attempts(), certificates_needing_attention().
"""
