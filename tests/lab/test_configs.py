"""Rendering of libvirtd.conf, qemu.conf and guest XML (pure)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from miglane.lab.configs import render_domain_xml, render_libvirtd_conf, render_qemu_conf
from miglane.lab.layout import QEMU_TLS_DIR, LabPaths
from miglane.lab.plan import LIBVIRTD_TLS_PORT, plan_lab


def conf_values(text: str) -> dict[str, str]:
    """key = value lines of a libvirt config file, values without quotes."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+)\s*=\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip('"')
    return values


def test_libvirtd_listens_with_tls_on_the_management_address_with_its_own_socket_and_uuid() -> None:
    host = plan_lab(0, 2).hosts[1]
    paths = LabPaths(Path("/srv/lab")).host(host.name)
    conf = conf_values(render_libvirtd_conf(host, paths))
    assert conf["listen_addr"] == "10.231.1.12"
    assert conf["listen_tcp"] == "0"
    assert conf["listen_tls"] == "1"
    assert conf["tls_port"] == str(LIBVIRTD_TLS_PORT)
    assert "tcp_port" not in conf and "auth_tcp" not in conf
    # the certificate files libvirtd looks for by default, in the host's mounted /etc/pki
    assert conf["ca_file"] == "/etc/pki/CA/cacert.pem"
    assert conf["cert_file"] == "/etc/pki/libvirt/servercert.pem"
    assert conf["key_file"] == "/etc/pki/libvirt/private/serverkey.pem"
    assert conf["unix_sock_dir"] == "/srv/lab/hosts/host2/sock"
    assert conf["host_uuid"] == host.host_uuid
    assert conf["log_outputs"] == "3:file:/srv/lab/hosts/host2/log/libvirtd.log"


def test_qemu_conf_carries_the_pitfall_settings_and_migration_defaults() -> None:
    host = plan_lab(0, 2).hosts[0]
    conf = conf_values(render_qemu_conf(host))
    assert conf["security_driver"] == "none"
    assert conf["stdio_handler"] == "file"
    assert conf["cgroup_controllers"] == "[ ]"
    assert conf["user"] == conf["group"] == "root"
    # listens on both networks; tells sources to use the migration one by default
    assert conf["migration_address"] == "0.0.0.0"
    assert conf["migration_host"] == "10.231.2.11"
    # QEMU's migration TLS: the host's certificates, the peer's verified
    assert conf["default_tls_x509_cert_dir"] == conf["migrate_tls_x509_cert_dir"] == QEMU_TLS_DIR
    assert conf["default_tls_x509_verify"] == conf["migrate_tls_x509_verify"] == "1"


def test_domain_xml_boots_the_guest_kernel_with_its_dirty_setting() -> None:
    xml = render_domain_xml("vm-1", 256, "/k/dirtier.elf", dirty_mib=16)
    domain = ET.fromstring(xml)
    assert domain.get("type") == "qemu"
    assert domain.findtext("name") == "vm-1"
    assert domain.find("memory").text == "256"  # type: ignore[union-attr]
    assert domain.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    assert domain.findtext("os/kernel") == "/k/dirtier.elf"
    assert domain.findtext("os/cmdline") == "dirty=16"
    serial = domain.find("devices/serial/source")
    assert serial is not None
    assert serial.get("path") == "/var/log/libvirt/qemu/vm-1.serial"
    assert domain.find("devices/disk") is None
    assert domain.find("devices/interface") is None


def test_domain_xml_can_ask_for_kvm() -> None:
    assert ET.fromstring(render_domain_xml("a", 64, "/k", virt_type="kvm")).get("type") == "kvm"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "no spaces"}, "invalid VM name"),
        ({"name": "a" * 65}, "invalid VM name"),
        ({"name": "<x>"}, "invalid VM name"),
        ({"memory_mib": 8}, "between 16 and 3072"),
        ({"dirty_mib": 512}, "dirty MiB"),
        ({"virt_type": "xen"}, "virt type"),
    ],
)
def test_domain_xml_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "vm", "memory_mib": 128, "kernel": "/k"} | kwargs
    with pytest.raises(ValueError, match=message):
        render_domain_xml(**args)  # type: ignore[arg-type]
