"""The lab's certificates: a CA of its own (`<base>/pki`), each host's credentials, and the files
libvirtd and QEMU read them from inside the host's mount namespace.

Every host directory holds a tree bind-mounted over /etc/pki in the host's mount namespace,
in the layout a root libvirtd and QEMU look for by default:

    CA/cacert.pem                                        libvirtd's CA (server and client)
    libvirt/servercert.pem, libvirt/private/serverkey.pem    libvirtd's qemu+tls:// listener
    libvirt/clientcert.pem, libvirt/private/clientkey.pem    its peer-to-peer connections
    qemu/{ca-cert,server-cert,server-key,client-cert,client-key}.pem   QEMU's migration TLS

plus `client/` (cacert.pem, clientcert.pem, clientkey.pem): the same client identity for a
process outside the host's mount namespace, as libvirt's `?pkipath=` wants it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from miglane.pki import (
    CA_CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    SERVER_CERT,
    SERVER_KEY,
    CertificateAuthority,
    PkiDir,
    PkiError,
    load_credentials,
)

from .errors import LabError
from .layout import HostPaths
from .plan import HostPlan

# Files of the tree: relative path -> file of the host's credentials directory.
_SYSTEM_FILES = {
    "CA/cacert.pem": CA_CERT,
    "libvirt/servercert.pem": SERVER_CERT,
    "libvirt/private/serverkey.pem": SERVER_KEY,
    "libvirt/clientcert.pem": CLIENT_CERT,
    "libvirt/private/clientkey.pem": CLIENT_KEY,
    "qemu/ca-cert.pem": CA_CERT,
    "qemu/server-cert.pem": SERVER_CERT,
    "qemu/server-key.pem": SERVER_KEY,
    "qemu/client-cert.pem": CLIENT_CERT,
    "qemu/client-key.pem": CLIENT_KEY,
    "client/cacert.pem": CA_CERT,
    "client/clientcert.pem": CLIENT_CERT,
    "client/clientkey.pem": CLIENT_KEY,
}
_PRIVATE = ("key.pem",)


def lab_pki_dir(base: Path) -> Path:
    return base / "pki"


def provision_lab_pki(base: Path, hosts: Sequence[HostPlan]) -> CertificateAuthority:
    """The lab's CA in `<base>/pki` (created once, kept by `down`), and credentials for every
    host in `<base>/pki/hosts/<name>` with SANs its name, management and migration address
    (issued when missing or when its addresses changed)."""
    try:
        authority = CertificateAuthority.init(lab_pki_dir(base))
        for host in hosts:
            wanted = (host.name, host.mgmt_addr, host.mig_addr)
            directory = authority.layout.host(host.name)
            if _current_sans(authority, directory) != wanted:
                authority.issue_host(host.name, [host.mgmt_addr, host.mig_addr], directory)
    except PkiError as exc:
        raise LabError(f"the lab's certificates: {exc}") from exc
    return authority


def _current_sans(authority: CertificateAuthority, directory: Path) -> tuple[str, ...] | None:
    try:
        credentials = load_credentials(directory)
    except PkiError:
        return None
    if credentials.ca_pem != authority.ca_pem:
        return None
    return credentials.info.sans


def host_credentials_dir(base: Path, host: str) -> Path:
    """What a lab host's agent is given as `--credentials`."""
    return PkiDir(lab_pki_dir(base)).host(host)


def install_host_tree(credentials: Path, paths: HostPaths) -> None:
    """Writes the host's /etc/pki tree from its credentials directory (copies, not links: QEMU
    and libvirt read them inside the host's mount namespace). Keys are
    readable by root only, which is the user QEMU runs as in the lab (qemu.conf)."""
    tree = paths.pki_tree
    for relative, name in _SYSTEM_FILES.items():
        target = tree / relative
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        # in place (same inode): a running daemon sees the tree through a bind mount
        shutil.copyfile(credentials / name, target)
        target.chmod(0o600 if relative.endswith(_PRIVATE) else 0o644)
    (tree / "libvirt" / "private").chmod(0o700)


def remove_qemu_file(paths: HostPaths, name: str) -> Path:
    """Moves one of the host's QEMU TLS files aside (tests of a host lacking certificates);
    returns where it went, for `restore_qemu_file`."""
    source = paths.pki_tree / "qemu" / name
    aside = paths.root / f"{name}.aside"
    source.rename(aside)
    return aside


def restore_qemu_file(paths: HostPaths, name: str) -> None:
    (paths.root / f"{name}.aside").rename(paths.pki_tree / "qemu" / name)


def render_hosts_file(hosts: Sequence[HostPlan]) -> str:
    """/etc/hosts of every lab host: each host name at its management address (the name the
    certificates carry as DNS SAN, so `qemu+tls://host2/system` resolves and verifies)."""
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{host.mgmt_addr} {host.name}" for host in hosts]
    return "\n".join(lines) + "\n"


def write_hosts_files(hosts: Sequence[HostPlan], host_paths: Sequence[HostPaths]) -> None:
    """Rewrites every host's /etc/hosts in place: a running daemon has the file bind-mounted,
    and a bind mount keeps the inode it was given (a rename would leave it the old text)."""
    text = render_hosts_file(hosts)
    for paths in host_paths:
        paths.root.mkdir(parents=True, exist_ok=True)
        with paths.hosts_file.open("w") as out:
            out.write(text)
