"""Host identities: the credentials the engine's certificate authority issues a host when it is
added (its name and management address in the certificate), revoked when it is removed, and
when each host's certificate ends — the CA's records own that, read here."""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from miglane.engine.domain.errors import FailedPrecondition, InvalidArgument
from miglane.pki import CertificateInfo, PkiError, Role, validate_name


class HostAuthority(Protocol):
    """What enrolling hosts needs of the engine's CA (`miglane.pki.CertificateAuthority`)."""

    def issue_host(self, name: str, addresses: Sequence[str]) -> CertificateInfo: ...

    def revoke(self, serial_or_name: int | str) -> builtins.list[CertificateInfo]: ...

    def list(self) -> builtins.list[CertificateInfo]: ...


def check_identity_name(field: str, name: str) -> None:
    """A host's name is its certificate's identity: refused unless the CA can issue it."""
    try:
        validate_name(name)
    except PkiError as error:
        raise InvalidArgument(
            field, f"is not usable as the host's certificate name: {error}"
        ) from None


def management_address(agent_address: str) -> str | None:
    """The IP address of a normalized `host:port` agent address; None for a DNS name (the
    certificate names the host by its name then)."""
    host = agent_address.rpartition(":")[0].removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def live_host_certificates(
    infos: Iterable[CertificateInfo], name: str, now: datetime
) -> list[CertificateInfo]:
    return [
        info
        for info in infos
        if info.name == name
        and info.role is Role.HOST
        and not info.revoked
        and info.not_after > now
    ]


class HostCredentials:
    """Issues, revokes and reads hosts' certificates. Blocking file work: call it from the
    store worker's thread (inside the host's transaction), never on the event loop."""

    def __init__(self, authority: HostAuthority) -> None:
        self._authority = authority

    def enrol(self, name: str, agent_address: str) -> CertificateInfo | None:
        """The host's credentials, in the CA's hosts/<name> directory; None when its agent
        address is a DNS name (a host certificate carries its management IP address)."""
        address = management_address(agent_address)
        if address is None:
            return None
        try:
            return self._authority.issue_host(name, [address])
        except PkiError as error:
            raise FailedPrecondition(f"host {name!r} cannot be enrolled: {error}") from None

    def revoke(self, name: str, now: datetime) -> list[CertificateInfo]:
        """Revokes every live certificate of host `name` (none is fine: an older engine
        added it)."""
        revoked = []
        for info in live_host_certificates(self._authority.list(), name, now):
            revoked.extend(self._authority.revoke(info.serial))
        return revoked

    def not_after(self, names: Iterable[str], now: datetime) -> dict[str, datetime]:
        """When each named host's newest live certificate ends (hosts without one left out)."""
        infos = self._authority.list()
        ends = {}
        for name in set(names):
            live = live_host_certificates(infos, name, now)
            if live:
                ends[name] = max(info.not_after for info in live)
        return ends
