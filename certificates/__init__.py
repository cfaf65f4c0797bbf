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
                    certificate_issue, certificates_run_due, CertificateBatch, certificate_key_pem
    follow.py       certificate_follow_site: called by sites.services after every site write (order for
                    tls=acme, renew when the names change, stop ordering for custom/none, flag a custom
                    certificate that no longer covers the site's names)
    selectors.py    reads: certificates_due, certificates_needing_attention, certificate_for_site,
                    certificate_attempts; the SiteCertificate / CertificateDetail read models
    tasks.py        renewal_scan (one look at what is due), the order_due_certificates task (rq / immediate)
    worker.py       acme_worker_run: the ACME worker of `manage.py renew_certificates --loop` (woken, scans,
                    batches what it issued into one deployment)
    wake.py         certificates_wake: on commit, start the order now (deploy.wake's ACME channel, or the task)
    forms.py        the upload form of a customer's own certificate

Direction: sites.services calls this app; this app never imports sites.services. The certificate pages
and API endpoints that change a site (upload: tls becomes custom) are sites' doors
(sites.services.site_certificate_upload / site_certificate_renew).

How the rest of the panel uses it:

- rendering.snapshot reads every live certificate of a site whose tls is not "none" in one query, key
  decrypted in memory; rendering.render writes `tls/<domain>.crt` (fullchain_pem), `tls/<domain>.key` and
  the site's HTTPS vhost; HTTP redirects (and HSTS is sent) only while the certificate is not expired and
  covers every name of the site that reaches us;
- deploy.secrets seals key files before a ConfigTree is stored (and opens them for a rollback);
  rendering.manifest.tree_diff prints "(private key changed, not shown)"; key files are 0600 on the
  front-ends;
- deploy.challenges.FrontendsChallengePublisher (every enabled front-end over its transport, in parallel)
  is registered by balancers.apps.BalancersConfig.ready(); its http_port is HOSTPANEL_ACME_HTTP_PORT;
- certificates_run_due() puts what it issued live with one config_changed() per batch (at its end, or
  when the ACME worker's batch closes); tls=none/custom sites are never ordered (certificates_due).
  bin/run starts `manage.py renew_certificates --loop` (the ACME worker) when HOSTPANEL_ACME_DIRECTORY
  is set; certificates.follow and sites.services.site_certificate_renew wake it (certificates.wake).

Never render private_key_encrypted or certificate_key_pem().
"""
