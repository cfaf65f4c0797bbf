"""The one rig for every real part, used by the tests, the benchmarks and the local demo (never by the panel
itself, which only uses ``apache`` for ``render_apache --check``).

- ``apache``: the one standalone Apache launcher (config writer, ``apache2 -t``, start/graceful/stop).
- ``nginx``: the one standalone nginx launcher, a front-end's TLS edge (FrontEnd.tls_edge = nginx): its main
  config including the tree's edge/*.conf, ``nginx -t``, start/reload/stop, reload counts, RSS.
- ``backends``: the one fake Zope/Plone backend (a small threaded HTTP server on 127.0.0.1).
- ``net``: free ports on 127.0.0.1; ``http_get`` and ``https_get`` (SNI, one trusted root).
- ``parts``: the real binaries (apache2, sshd, pebble, chromium...), or MissingPart naming the package.
- ``sshd``: a real OpenSSH server on loopback (a front-end's or a Zope host's SSH).
- ``pebble``: a real ACME CA (pebble + pebble-challtestsrv) and an http-01 challenge file server.
- ``pki``: the one test PKI (root -> intermediate -> leaf, TrustedPKI) and pebble's localhost certificate.
- ``fleet``: the one fleet builder: real front-ends (over SSH or local) in front of fake backends, through
  the panel's services, with restartable Zope servers; ``ACTOR``, who the rig is in the audit log.
- ``handwritten``: hand-written, seed-style Apache configs with N sites (the importer's input).
- ``slow_http``: a peer that drips its headers forever, and ``within`` (a wall-clock limit on a call).
- ``queues``: a task backend whose queue can be taken down; ``deploy_worker``: a deploy worker process a
  test can pause and kill at a stage; ``browser``: Debian's Chromium, started the way this machine needs.
- ``capture``: re-capture tests/fixtures/'s balancer-manager pages from a real Apache.
- ``demo``: the local demo front-end of ``manage.py demo_frontend``.

``apache``, ``nginx``, ``backends``, ``net``, ``parts``, ``sshd``, ``pki``, ``slow_http``, ``handwritten``,
``browser`` and ``capture`` need no ``django.setup()``, so a benchmark can use them before it. Nothing here imports from
``tests/`` (checked by tests/hostpanel/test_architecture.py); the pytest fixtures over the rig live in
tests/harness/.
"""
