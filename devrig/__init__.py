"""Development parts shared by the tests, the benchmarks and the local demo (never by the panel itself).

- ``apache``: the one standalone Apache launcher (config writer, ``apache2 -t``, start/graceful/stop).
- ``backends``: the one fake Zope/Plone backend (a small threaded HTTP server on 127.0.0.1).
- ``net``: free ports on 127.0.0.1.
- ``demo``: the local demo front-end of ``manage.py demo_frontend`` (needs Django).

``apache``, ``backends`` and ``net`` import nothing from Django, so a benchmark can use them before
``django.setup()``; product code may use ``apache`` (``render_apache --check``) but nothing here
imports from ``tests/``.
"""
