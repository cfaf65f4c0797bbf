from django.apps import AppConfig


class BalancersConfig(AppConfig):
    name = "balancers"
    verbose_name = "Balancing"
