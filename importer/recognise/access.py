"""Access control in <Proxy> sections, 2.2 syntax (Order/Allow) translated to 2.4's Require."""

from __future__ import annotations

from importer.recognise.state import RecogniserState
from importer.tokenizer import Directive


def is_access_granted_part(d: Directive) -> bool:
    args = [a.lower() for a in d.args]
    return (
        (d.key == "order")
        or (d.key == "allow" and args == ["from", "all"])
        or (d.key == "require" and args == ["all", "granted"])
    )


class AccessPart(RecogniserState):
    """Access control on a balancer: 2.4's `Require all granted`, or 2.2's `Order`/`Allow from all`
    translated to it; anything that restricts access is listed as not understood (HostPanel grants all)."""

    def _access(self, access: list[Directive]) -> None:
        if not access:
            return
        granted = any(d.key == "require" and [a.lower() for a in d.args] == ["all", "granted"] for d in access)
        old_allow = any(d.key == "allow" and [a.lower() for a in d.args] == ["from", "all"] for d in access)
        if all(is_access_granted_part(d) for d in access) and (granted or old_allow):
            for d in access:
                if d.key in ("order", "allow"):
                    self.translated(d, "Apache 2.2 access control: HostPanel renders Require all granted")
                else:
                    self.translated(d, "Require all granted")
            return
        for d in access:
            self.unrecognised(d, "access restrictions on a balancer are not modelled (HostPanel grants all)")
