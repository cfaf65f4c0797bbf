"""What HostPanel knows about a front-end's Apache (FrontEnd.apache_facts): read by the readiness check
(deploy.readiness, over the transport), used by the renderer (health checks only where mod_proxy_hcheck is
loaded), the status poller (MaxRequestWorkers beside mod_status) and the front-end page (sizing advice).

Pure data, no I/O: `ApacheFacts.of(frontend)` reads the stored JSON, `facts.as_json()` writes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The modules HostPanel's config needs, by feature (names as `apache2ctl -M` lists them, without _module).
NEEDED_MODULES = ("proxy", "proxy_http", "proxy_balancer", "slotmem_shm", "rewrite", "headers", "alias")
HTTPS_MODULES = ("ssl", "socache_shmcb")
OPTIONAL_MODULES = {
    "http2": "HTTP/2 on HTTPS vhosts",
    "proxy_hcheck": "active health checks of members (Apache 2.4.55 or newer)",
    "status": "worker usage on the dashboard (mod_status) and the saturation alert",
}
LBMETHOD_MODULE = {
    "byrequests": "lbmethod_byrequests",
    "bytraffic": "lbmethod_bytraffic",
    "bybusyness": "lbmethod_bybusyness",
    "heartbeat": "lbmethod_heartbeat",
}


@dataclass(frozen=True)
class VhostFinding:
    """One address of the front-end's virtual host map, as `apache2ctl -S` shows it."""

    address: str  # e.g. *:80
    default_name: str  # the ServerName of the vhost that answers names no vhost claims there
    default_source: str  # file:line of that vhost
    hostpanel_first: bool  # HostPanel's catch-all is the default vhost on this address
    advice: str = ""  # what to change, when hostpanel_first is False


@dataclass(frozen=True)
class ApacheFacts:
    checked_at: str = ""  # ISO 8601, UTC
    version: str = ""  # e.g. 2.4.62
    mpm: str = ""  # event, worker or prefork
    limits: dict[str, int] = field(default_factory=dict)  # ServerLimit, ThreadsPerChild, MaxRequestWorkers, ...
    modules: tuple[str, ...] = ()  # loaded, without the _module suffix
    vhosts: tuple[VhostFinding, ...] = ()
    errors: tuple[str, ...] = ()  # what could not be read, and why
    defaults: tuple[str, ...] = ()  # the limits not set in the config: Apache's compiled-in default for the MPM
    # The last deployment's proof that HostPanel's vhost answers on every listener (deploy.vhost_proof):
    # "" = it did (or none was asked yet), else why not; while it says why not, no site counts as live there.
    release_proof: str = ""
    proven_at: str = ""  # ISO 8601, UTC: when that proof ran

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ApacheFacts:
        data = data or {}
        return cls(
            checked_at=str(data.get("checked_at", "")),
            version=str(data.get("version", "")),
            mpm=str(data.get("mpm", "")),
            limits={str(k): int(v) for k, v in (data.get("limits") or {}).items() if isinstance(v, int)},
            modules=tuple(str(m) for m in data.get("modules") or ()),
            vhosts=tuple(VhostFinding(**v) for v in data.get("vhosts") or ()),
            errors=tuple(str(e) for e in data.get("errors") or ()),
            defaults=tuple(str(d) for d in data.get("defaults") or ()),
            release_proof=str(data.get("release_proof", "")),
            proven_at=str(data.get("proven_at", "")),
        )

    @classmethod
    def of(cls, frontend: Any) -> ApacheFacts:
        return cls.from_json(getattr(frontend, "apache_facts", None))

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["modules"] = list(self.modules)
        data["vhosts"] = [asdict(v) for v in self.vhosts]
        data["errors"] = list(self.errors)
        data["defaults"] = list(self.defaults)
        return data

    @property
    def known(self) -> bool:
        return bool(self.checked_at)

    def has(self, module: str) -> bool:
        return module in self.modules

    @property
    def max_workers(self) -> int:
        return int(self.limits.get("MaxRequestWorkers", 0))
