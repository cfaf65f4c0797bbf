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

How it is wired in (the integration, done):

- rendering: rendering.snapshot reads every live certificate of a site whose tls is not "none" in ONE
  query, key decrypted in memory; rendering.render writes `tls/<domain>.crt` (fullchain_pem) and
  `tls/<domain>.key` and the site's HTTPS vhost; HTTP redirects (and HSTS is sent) only while the
  certificate is not expired and covers every name of the site that reaches us;
- keys at rest: deploy.secrets seals key files before a ConfigTree is stored (and opens them
  for a rollback); rendering.manifest.tree_diff prints "(private key changed, not shown)"; key files
  are 0600 on the front-ends;
- challenges: deploy.challenges.FrontendsChallengePublisher (every enabled front-end over its
  transport, in parallel; ChallengePublishError names the front-end that failed) is registered by
  balancers.apps.BalancersConfig.ready(); its frontend_addresses are the front-ends' addresses and its
  http_port HOSTPANEL_ACME_HTTP_PORT;
- life cycle: sites.services calls certificate_ensure() for tls=acme (certificate_use_acme() when a site
  switches to acme), certificate_request_renewal() when the names change; tls=none/custom sites are never
  ordered (certificates_due); certificates_run_due() ends with ONE config_changed() for the whole batch,
  and certificate_set_custom() deploys the upload;
- the scan: `manage.py renew_certificates [--loop]` (certificates.tasks.renewal_scan), started by bin/run
  when HOSTPANEL_ACME_DIRECTORY is set; the task `renew_certificates` for a cron/queue.

For the API and UI: write with certificate_set_custom(), certificate_request_renewal(); set Site.tls,
https_redirect, hsts_seconds through sites.services.site_create/site_update (they are SITE_FIELDS);
read certificate_for_site(), certificate_attempts(), certificates_needing_attention(). Never render
private_key_encrypted or certificate_key_pem().
"""
