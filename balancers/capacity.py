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


# --- sizing advice (pure) ------------------------------------------------------------------------------

# The event MPM closes a process's keep-alive connections as soon as that ONE process has no idle worker, and a
# process accepts more connections than it has threads (ThreadsPerChild + AsyncRequestWorkerFactor x idle), so a
# burst of clients can land on one process (frontend-facts.md). Measured by bench/dataplane.py (64 clients, a
# fast backend): 5 x 16 and 8 x 16 workers still lost requests, 2 x 64 lost none (single pass); node vhosts lost
# requests with 2 x 64 and 4 x 64 and none with 2 x 128; at 16 clients 2 x 16 once lost one request in 58,000
# (the poller's own request is a 17th). Hence: each process holds the whole peak in flight with SIZING_HEADROOM
# (ThreadsPerChild >= 1.25 x peak x hops, up to THREADS_CAP), in at least two processes.
SIZING_HEADROOM = 1.25
DEFAULT_THREADS_PER_CHILD = 25  # Apache's default for event and worker
DEFAULT_THREAD_LIMIT = 64  # ThreadsPerChild above it needs ThreadLimit raised with it
THREADS_CAP = 256  # beyond this peak per process, not measured: whole processes of 256 threads
MIN_PROCESSES = 2


@dataclass(frozen=True)
class SizingAdvice:
    """What MaxRequestWorkers, ThreadsPerChild and ServerLimit a front-end needs for a peak load, next to what
    it runs (its ApacheFacts). `lines` are the advice in words; `config` the directives to set."""

    peak_clients: int | None  # None: unknown (no history and none given)
    peak_source: str  # where peak_clients comes from, in words
    hops: int  # workers one request holds: 2 for node-vhosts balancers (both hops), 1 otherwise
    mpm: str
    threads_per_child: int
    max_request_workers: int  # advised; 0 when the peak is unknown
    processes: int
    server_limit: int
    current_max_workers: int  # 0: not read yet (connection test)
    current_server_limit: int
    enough: bool | None  # the current MaxRequestWorkers covers the advice (None: unknown)
    server_limit_ok: bool | None  # ServerLimit leaves room for a graceful restart (None: unknown)
    lines: tuple[str, ...] = ()
    config: str = ""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def threads_needed(peak_clients: int, *, node_vhosts: bool = False, threads_per_child: int = 0) -> int:
    """ThreadsPerChild so that one process alone holds the peak in flight with SIZING_HEADROOM (peak x hops x 1.25,
    rounded up to 16: the panel's own mod_status and balancer-manager requests take workers too), never fewer
    than the front-end has (`threads_per_child`), at most THREADS_CAP unless it already has more."""
    hops = 2 if node_vhosts else 1
    current = threads_per_child or DEFAULT_THREADS_PER_CHILD
    in_flight = int(peak_clients * hops * SIZING_HEADROOM + 0.999)
    return max(current, _ceil_div(min(in_flight, THREADS_CAP), 16) * 16)  # in steps of 16


def workers_needed(peak_clients: int, *, node_vhosts: bool = False, threads_per_child: int = 0) -> int:
    """MaxRequestWorkers for `peak_clients` requests in flight: one worker each (two with node vhosts: the
    request holds one on each hop) plus SIZING_HEADROOM, in at least MIN_PROCESSES whole processes of
    threads_needed() threads."""
    hops = 2 if node_vhosts else 1
    threads = threads_needed(peak_clients, node_vhosts=node_vhosts, threads_per_child=threads_per_child)
    raw = max(int(peak_clients * hops * SIZING_HEADROOM + 0.999), 1)
    return max(_ceil_div(raw, threads), MIN_PROCESSES) * threads


def peak_clients_seen(samples: Any, *, node_vhosts: bool = False) -> int | None:
    """The most clients seen at once in (busy, keepalive) pairs of mod_status samples: workers serving a
    request plus idle keep-alive connections waiting for their next one. With node vhosts both hops count
    (the node hop's workers and pooled connections): halved. None without samples."""
    peaks = [int(busy) + int(keepalive) for busy, keepalive in samples]
    if not peaks:
        return None
    peak = max(peaks)
    return _ceil_div(peak, 2) if node_vhosts else peak


def sizing_advice(
    facts: ApacheFacts, peak_clients: int | None = None, *, node_vhosts: bool = False, peak_source: str = ""
) -> SizingAdvice:
    """The sizing rule of README's "Sizing the MPM", with this front-end's numbers (frontend-facts.md):
    MaxRequestWorkers >= peak concurrent clients (x2 for node-vhosts balancers), in whole processes of
    ThreadsPerChild; ServerLimit with room for the old generation of a graceful restart (event MPM);
    mpm_worker as the alternative that never closes keep-alive connections for want of a worker."""
    mpm = facts.mpm or ""
    threads = 1 if mpm == "prefork" else int(facts.limits.get("ThreadsPerChild", 0)) or DEFAULT_THREADS_PER_CHILD
    current = facts.max_workers
    current_limit = int(facts.limits.get("ServerLimit", 0))
    hops = 2 if node_vhosts else 1
    lines: list[str] = []
    if not facts.known:
        lines.append("This front-end's MPM and limits are not known yet: run its connection test to read them.")
    else:
        lines.append(
            f"This front-end runs mpm_{mpm or '?'} with MaxRequestWorkers {current or '?'}, "
            f"ThreadsPerChild {facts.limits.get('ThreadsPerChild', '?')}, ServerLimit {current_limit or '?'}."
        )
    needed = processes = server_limit = 0
    enough: bool | None = None
    advised_threads = threads
    if peak_clients:
        if mpm == "prefork":
            needed = max(int(peak_clients * hops * SIZING_HEADROOM + 0.999), 1)
        else:
            advised_threads = threads_needed(peak_clients, node_vhosts=node_vhosts, threads_per_child=threads)
            needed = workers_needed(peak_clients, node_vhosts=node_vhosts, threads_per_child=threads)
        processes = needed // advised_threads
        server_limit = processes * 2 if mpm != "prefork" else needed  # prefork: one process per worker
        per = "two workers per request (one on each hop: node-vhosts balancers)" if node_vhosts else "one worker each"
        lines.append(
            f"{peak_clients} clients at once ({peak_source or 'peak'}) need {peak_clients * hops} workers "
            f"({per}); MaxRequestWorkers {needed} = {processes} processes x ThreadsPerChild {advised_threads}"
            + (
                ": each process can hold the whole peak on its own, because the event MPM lets one process take "
                "more connections than it has threads and closes them all when that process runs out."
                if mpm != "prefork"
                else "."
            )
        )
        if current:
            enough = current >= needed and (mpm == "prefork" or threads >= advised_threads)
            lines.append(
                f"MaxRequestWorkers {current} is enough."
                if enough
                else f"MaxRequestWorkers {current} with ThreadsPerChild {threads} is too small: when every worker "
                "of a process is busy, the event MPM closes keep-alive connections and visitors can see failed "
                f"requests. Set the directives below."
            )
    else:
        lines.append(
            "Peak concurrent clients unknown: no mod_status samples yet. Give the expected peak to see the numbers."
        )
    server_limit_ok: bool | None = None
    if mpm == "event" and current and current_limit:
        active = _ceil_div(current, threads)
        server_limit_ok = current_limit > active
        lines.append(
            f"ServerLimit {current_limit} leaves room for {current_limit - active} old-generation processes to "
            "finish their requests during a graceful restart."
            if server_limit_ok
            else f"ServerLimit {current_limit} equals MaxRequestWorkers / ThreadsPerChild ({active}): during a "
            "graceful restart (every deployment) the old processes still finishing hold every slot and the "
            f"new generation cannot start them all. Set ServerLimit to about {2 * active}."
        )
    lines.append(
        "Alternative: mpm_worker never closes keep-alive connections for want of a worker (each open connection "
        "holds one instead): size its MaxRequestWorkers to the peak number of open connections."
    )
    config = ""
    if needed:
        module = f"mpm_{mpm}_module" if mpm in ("worker", "prefork") else "mpm_event_module"
        threads_line = "" if mpm == "prefork" else f"    ThreadsPerChild {advised_threads}\n"
        if mpm != "prefork" and advised_threads > DEFAULT_THREAD_LIMIT:
            threads_line = f"    ThreadLimit {advised_threads}\n" + threads_line
        config = (
            f"<IfModule {module}>\n    ServerLimit {server_limit}\n{threads_line}"
            f"    MaxRequestWorkers {needed}\n</IfModule>\n"
        )
    return SizingAdvice(
        peak_clients=peak_clients,
        peak_source=peak_source,
        hops=hops,
        mpm=mpm,
        threads_per_child=advised_threads,
        max_request_workers=needed,
        processes=processes,
        server_limit=server_limit,
        current_max_workers=current,
        current_server_limit=current_limit,
        enough=enough,
        server_limit_ok=server_limit_ok,
        lines=tuple(lines),
        config=config,
    )
