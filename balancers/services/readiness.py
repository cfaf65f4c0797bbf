"""What the panel knows about a front-end's Apache (FrontEnd.apache_facts): written here from the connection
test (deploy.readiness reads them over the transport), and by the deployer itself with each release proof
(deploy.host.record_release_proof, as it records the activated release). Observations of a host, like the
status samples: not audited; a config change only when a module the rendered config depends on
(RENDERED_MODULES) appeared or went."""

from __future__ import annotations

from dataclasses import replace

from django.db import transaction

from balancers.capacity import ApacheFacts
from balancers.models import FrontEnd
from balancers.services.deployments import config_changed
from deploy.checks import StepResult, frontend_test_connection
from hostpanel.audit import Actor

# The facts the rendered config depends on: a change there is a config change (a deployment carries it).
RENDERED_MODULES = ("proxy_hcheck",)


def frontend_facts_save(frontend: FrontEnd, *, facts: ApacheFacts) -> None:
    """Store what was read of the front-end's Apache (only this column: a concurrent edit of the front-end
    keeps its own fields). The last deployment's release proof is kept: only a deployment proves or
    disproves that HostPanel's vhost answers."""
    stored = FrontEnd.objects.filter(pk=frontend.pk).values_list("apache_facts", flat=True).first()
    before = ApacheFacts.from_json(stored)
    data = replace(facts, release_proof=before.release_proof, proven_at=before.proven_at).as_json()
    with transaction.atomic():
        FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=data)
        # e.g. mod_proxy_hcheck newly loaded: members get their health checks with the next deployment,
        # queued now rather than at the next unrelated change
        if facts.known and any(before.has(m) != facts.has(m) for m in RENDERED_MODULES):
            config_changed(actor=Actor.system(), cause=("facts.update", frontend.name))
    frontend.apache_facts = data


def frontend_connection_test(frontend: FrontEnd) -> list[StepResult]:
    """The "Test connection" of the UI and the API: each step's result; the Apache facts read on the way
    are stored on the front-end."""
    return frontend_test_connection(frontend, on_facts=lambda facts: frontend_facts_save(frontend, facts=facts))
