from django.apps import AppConfig

from certificates.publishing import register_frontends_publisher
from deploy.challenges import FrontendsChallengePublisher


class BalancersConfig(AppConfig):
    name = "balancers"
    verbose_name = "Balancing"

    def ready(self) -> None:
        # The ACME step publishes http-01 challenges on every enabled front-end (certificates.publishing).
        frontends = self.get_model("FrontEnd").objects
        register_frontends_publisher(lambda: FrontendsChallengePublisher(frontends.filter(enabled=True)))
