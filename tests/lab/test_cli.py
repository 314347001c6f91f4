"""`miglane lab` command line: parsing, and errors a person can act on (no root needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from miglane.lab import cli
from miglane.lab.network import LinkState
from miglane.lab.status import HostStatus, LabStatus


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="miglane")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def run(*argv: str) -> int:
    args = parse(*argv)
    return int(args.handler(args))


def test_up_options() -> None:
    args = parse("lab", "up", "--hosts", "2", "--mig-mbit", "2000", "--agents", "--slot", "4")
    assert (args.hosts, args.mig_mbit, args.mgmt_mbit, args.agents) == (2, 2000, None, True)
    assert args.slot == 4
    assert args.agent_port == 50061
    assert args.handler.__name__ == "_up"


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGLANE_LAB_SLOT", "7")
    args = parse("lab", "status")
    assert args.slot == 7
    assert args.base_dir is None  # Lab() resolves $MIGLANE_LAB_DIR


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["lab", "down", "--purge"], "_down"),
        (["lab", "status", "--json"], "_status"),
        (["lab", "link", "host2", "mig", "down"], "_link"),
        (["lab", "vm", "create", "host1", "--name", "a", "--memory", "64"], "_vm_create"),
        (["lab", "vm", "list"], "_vm_list"),
        (["lab", "vm", "destroy", "host1", "a"], "_vm_destroy"),
    ],
)
def test_every_command_has_a_handler(argv: list[str], handler: str) -> None:
    assert parse(*argv).handler.__name__ == handler


def test_vm_create_takes_an_os_disks_and_nics() -> None:
    args = parse(
        *["lab", "vm", "create", "host1", "--name", "a", "--os", "linux"],
        *["--disk", "shared:64M", "--disk", "local:1G", "--nic", "prod"],
    )
    assert (args.os, args.disk, args.nic) == ("linux", ["shared:64M", "local:1G"], ["prod"])
    assert parse("lab", "vm", "create", "host1", "--name", "a").os == "tiny"


def test_vm_networks_go_on_chosen_hosts() -> None:
    up = parse("lab", "up", "--vm-network", "prod=host1,host3", "--vm-network", "b=host2")
    assert up.vm_network == ["prod=host1,host3", "b=host2"]
    assert cli._vm_network("prod=host1, host3") == ("prod", ["host1", "host3"])
    bridge = parse("lab", "bridge", "prod", "--hosts", "host1,host2")
    assert (bridge.handler.__name__, bridge.network, bridge.hosts) == (
        "_bridge",
        "prod",
        "host1,host2",
    )


def test_a_vm_network_needs_hosts() -> None:
    assert run("lab", "up", "--vm-network", "prod", "--no-install") == 1


def test_link_network_is_checked() -> None:
    with pytest.raises(SystemExit):
        parse("lab", "link", "host1", "storage", "down")


@pytest.mark.parametrize(
    "argv",
    [
        ["lab", "up"],
        ["lab", "down"],
        ["lab", "link", "host1", "mig", "down"],
        ["lab", "vm", "create", "host1", "--name", "a"],
        ["lab", "vm", "list"],
    ],
)
def test_without_root_a_clear_error_not_a_traceback(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert run(*argv, "--base-dir", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("miglane lab: error: the lab needs root")
    assert "Traceback" not in err


def test_status_of_no_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("lab", "status", "--base-dir", str(tmp_path)) == 0
    assert "no lab in" in capsys.readouterr().out


def test_without_apt_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from miglane.lab import packages
    from miglane.lab.errors import LabError

    monkeypatch.setattr(packages, "find_tool", lambda name: None)
    with pytest.raises(LabError, match="apt-get is not available"):
        packages.install_packages(["tini"])
    with pytest.raises(LabError, match="dpkg-query not found"):
        packages.missing_packages()


def test_format_status_shows_uris_links_and_agents() -> None:
    host = HostStatus(
        name="host1",
        netns="mgl-h1",
        mgmt_addr="10.231.1.11",
        mig_addr="10.231.2.11",
        libvirt_uri="qemu+unix:///system?socket=/x/sock",
        peer_uri="qemu+tls://10.231.1.11/system",
        migration_uri="tcp://10.231.2.11",
        daemon_pid=42,
        daemon_running=True,
        links=(
            LinkState("mgmt", "mgmt0", "mgl-h1-mgmt", "10.231.1.11", True, True, "UP", None),
            LinkState("mig", "mig0", "mgl-h1-mig", "10.231.2.11", False, False, "DOWN", None),
        ),
        agent_addr="10.231.1.11:50061",
        agent_pid=43,
        host_dir="/x",
    )
    status = LabStatus(
        base_dir="/x",
        slot=0,
        state="up",
        mgmt_bridge="mgl-mgmt",
        mig_bridge="mgl-mig",
        mgmt_subnet="10.231.1.0/24",
        mig_subnet="10.231.2.0/24",
        root_mgmt_addr="10.231.1.1",
        mgmt_mbit=None,
        mig_mbit=2000,
        guest_kernel="/k",
        hosts=(host,),
    )
    text = cli.format_status(status)
    assert "host1  netns mgl-h1  libvirtd pid 42" in text
    assert "qemu+tls://10.231.1.11/system" in text
    assert "mig0   10.231.2.11     DOWN" in text
    assert "agent   10.231.1.11:50061 (pid 43)" in text
    assert "capped at 2000 Mbit/s" in text
    assert status.host("host1").link("mig0").up is False
    assert status.to_dict()["hosts"][0]["links"][1]["nic"] == "mig0"


@pytest.mark.parametrize(
    ("base_dir", "slot", "message"),
    [
        ("/tmp/a lab", 0, "may hold only letters"),
        ("/tmp/lab?x=1", 0, "may hold only letters"),
        ("/tmp/lab", 100, "slot must be between 0 and 99"),
    ],
)
def test_lab_refuses_unsafe_base_dirs_and_bad_slots(base_dir: str, slot: int, message: str) -> None:
    from miglane.lab import Lab, LabError

    with pytest.raises(LabError, match=message):
        Lab(base_dir, slot=slot)
