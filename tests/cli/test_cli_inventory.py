"""The operator commands against a real engine: tables, --json, names for ids, refusals."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from miglane.cli.inventory import print_vm
from miglane.cli.main import main
from miglane.cli.output import (
    NOT_MEASURED,
    dirty_rate_label,
    disks_summary,
    networks_summary,
    working_set_label,
)
from miglane.engine.domain.authorization import refusal
from miglane.engine.domain.model import (
    DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT,
    DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS,
)
from miglane.pki import LEAF_DAYS, CertificateAuthority, Role
from miglane.testing.identities import admin_credentials
from miglane.v1 import common_pb2, engine_pb2


def run(capsys: pytest.CaptureFixture[str], engine: str, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--engine", engine])
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> list[list[str]]:
    """A printed table's header then rows, cells split where columns are (2+ spaces); the
    dashes under the header left out."""
    lines = [line for line in out.splitlines() if line and not set(line) <= {"-", " "}]
    return [re.split(r"\s{2,}", line) for line in lines]


@pytest.fixture
def cluster(capsys: pytest.CaptureFixture[str], engine_address: str) -> str:
    code, out, err = run(capsys, engine_address, "clusters", "create", "Prod", "--json")
    assert code == 0, err
    return str(json.loads(out)["id"])


def test_networks_roles_by_name(
    capsys: pytest.CaptureFixture[str], engine_address: str, cluster: str
) -> None:
    e = engine_address
    assert (
        run(
            capsys,
            e,
            "networks",
            "create",
            "ovirtmgmt",
            "10.1.0.0/24",
            "--cluster",
            "Prod",
            "--required",
            "--role",
            "management",
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            e,
            "networks",
            "create",
            "fast",
            "fd00:1::/64",
            "--cluster",
            cluster,
            "--qos-mbps",
            "2000",
        )[0]
        == 0
    )

    code, out, _ = run(capsys, e, "networks", "set-role", "fast", "migration", "--cluster", "Prod")
    assert code == 0
    assert "network fast now holds the migration role" in out

    code, out, _ = run(capsys, e, "networks", "list", "--cluster", "Prod")
    assert code == 0
    rows = {line.split()[2]: line for line in out.splitlines()[2:]}
    assert "migration" in rows["fast"] and "2000 Mbit/s" in rows["fast"]
    assert "management" in rows["ovirtmgmt"] and "yes" in rows["ovirtmgmt"]

    code, out, _ = run(capsys, e, "clusters", "show", "Prod", "--json")
    shown = json.loads(out)
    code, out, _ = run(capsys, e, "networks", "show", "fast", "--json")
    assert shown["migration_network_id"] == json.loads(out)["id"]

    code, out, _ = run(capsys, e, "networks", "unset-role", "fast", "migration")
    assert code == 0 and "migrations now use the management network" in out
    code, out, _ = run(capsys, e, "clusters", "show", "Prod", "--json")
    assert json.loads(out)["migration_network_id"] == ""


def test_local_disk_migration_policy_flags(
    capsys: pytest.CaptureFixture[str], engine_address: str
) -> None:
    e = engine_address
    code, out, err = run(capsys, e, "clusters", "create", "Disks", "--json")
    assert code == 0, err
    assert not json.loads(out)["policy"].get("local_disk_migration", False)  # off by default

    code, out, err = run(
        capsys, e, "clusters", "update", "Disks", "--local-disk-migration", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["policy"]["local_disk_migration"] is True
    code, out, _ = run(capsys, e, "clusters", "show", "Disks")
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())
    assert fields["local disk migration"] == "yes"

    code, out, err = run(
        capsys, e, "clusters", "update", "Disks", "--no-local-disk-migration", "--json"
    )
    assert code == 0, err
    assert not json.loads(out)["policy"].get("local_disk_migration", False)

    code, out, err = run(capsys, e, "clusters", "create", "Copying", "--local-disk-migration")
    assert code == 0, err


def test_local_disk_bandwidth_percent_flag(
    capsys: pytest.CaptureFixture[str], engine_address: str
) -> None:
    e = engine_address
    code, out, err = run(capsys, e, "clusters", "create", "Shares", "--json")
    assert code == 0, err
    assert json.loads(out)["policy"]["local_disk_bandwidth_percent"] == (
        DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT
    )

    code, out, err = run(
        capsys, e, "clusters", "update", "Shares", "--local-disk-bandwidth-percent", "30", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["policy"]["local_disk_bandwidth_percent"] == 30
    code, out, _ = run(capsys, e, "clusters", "show", "Shares")
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())
    assert fields["local disk bandwidth"] == "30% of the cap"

    code, _, err = run(
        capsys, e, "clusters", "update", "Shares", "--local-disk-bandwidth-percent", "101"
    )
    assert code != 0 and "local_disk_bandwidth_percent" in err


def test_management_budget_flag(capsys: pytest.CaptureFixture[str], engine_address: str) -> None:
    e = engine_address
    code, out, err = run(capsys, e, "clusters", "create", "Budget", "--json")
    assert code == 0, err
    policy = json.loads(out)["policy"]
    assert policy["management_migration_budget_mbit_per_second"] == (
        DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS
    )

    code, out, err = run(
        capsys, e, "clusters", "update", "Budget", "--management-budget-mbps", "2500", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["policy"]["management_migration_budget_mbit_per_second"] == 2500
    code, out, _ = run(capsys, e, "clusters", "show", "Budget")
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())
    assert fields["management migration budget"] == "2500 Mbit/s per management link"

    code, out, err = run(
        capsys, e, "clusters", "create", "Budgeted", "--management-budget-mbps", "400", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["policy"]["management_migration_budget_mbit_per_second"] == 400


def test_policy_rates_and_timeouts_flags(
    capsys: pytest.CaptureFixture[str], engine_address: str
) -> None:
    """Each policy option lands in its contract field (MiB/s, whole-second Durations)."""
    e = engine_address
    code, out, err = run(
        capsys, e, "clusters", "create", "Tuned", "--bandwidth-mode", "custom",
        "--custom-mibps", "64", "--no-progress-timeout-s", "90",
        "--completion-timeout-s-per-gib", "300", "--json",
    )  # fmt: skip
    assert code == 0, err
    policy = json.loads(out)["policy"]
    assert policy["custom_mib_per_second"] == 64
    assert policy["no_progress_timeout"] == "90s"
    assert policy["completion_timeout_per_gib"] == "300s"
    code, _, err = run(capsys, e, "clusters", "update", "Tuned", "--no-progress-timeout-s", "-1")
    assert code != 0 and "--no-progress-timeout-s must be 0 or more" in err


def test_vms_list_shows_disks_and_networks(
    capsys: pytest.CaptureFixture[str], engine_address: str, cluster: str
) -> None:
    code, out, err = run(capsys, engine_address, "vms", "list")
    assert code == 0, err
    assert table(out)[0] == [
        "ID", "NAME", "HOST", "STATE", "PRIORITY", "MEMORY", "DIRTY", "DISKS", "NETWORKS",
        "MIGRATION",
    ]  # fmt: skip


def test_vms_show_of_an_unknown_vm_says_so(
    capsys: pytest.CaptureFixture[str], engine_address: str, cluster: str
) -> None:
    code, _, err = run(capsys, engine_address, "vms", "show", "nowhere")
    assert code != 0 and "no VM with id or name 'nowhere'" in err


def measured_vm() -> engine_pb2.Vm:
    vm = engine_pb2.Vm(id="vm-1", name="web", memory_mib=512)
    for seconds, mib in ((1_700_000_000, 3), (1_700_000_060, 25)):
        sample = vm.dirty_rate_history.add(bytes_per_second=mib * 2**20)
        sample.measured_at.FromSeconds(seconds)
    vm.dirty_rate_bytes_per_second = vm.dirty_rate_history[-1].bytes_per_second
    vm.dirty_rate_measured_at.CopyFrom(vm.dirty_rate_history[-1].measured_at)
    return vm


def test_dirty_rate_label() -> None:
    assert dirty_rate_label(measured_vm()) == "25.0 MiB/s"
    assert dirty_rate_label(engine_pb2.Vm()) == NOT_MEASURED


def test_vms_show_prints_the_dirty_rate_history_newest_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_vm(measured_vm(), as_json=False)
    out = capsys.readouterr().out
    assert "dirty rate" in out and "25.0 MiB/s" in out
    assert "migration priority" in out
    history = [line for line in out[out.index("MEASURED") :].splitlines() if "UTC" in line]
    assert [line.split()[-2] for line in history] == ["25.0", "3.0"]
    assert "2023-11-14 22:14:20 UTC" in history[0]


def test_a_bounded_working_set_is_shown_with_the_dirty_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vm = measured_vm()
    assert working_set_label(vm) == "not bounded"
    assert working_set_label(engine_pb2.Vm()) == NOT_MEASURED
    vm.dirty_working_set_bytes = vm.dirty_rate_history[-1].working_set_bytes = 4 * 2**20
    assert dirty_rate_label(vm) == "25.0 MiB/s within 4.0 MiB"
    assert working_set_label(vm) == "4.0 MiB"
    print_vm(vm, as_json=False)
    out = capsys.readouterr().out
    assert "working set" in out
    history = [line for line in out[out.index("MEASURED") :].splitlines() if "UTC" in line]
    assert history[0].endswith("25.0 MiB/s within 4.0 MiB")
    assert history[1].endswith("3.0 MiB/s")


def test_disk_and_network_summaries() -> None:
    vm = engine_pb2.Vm(
        disks=[
            common_pb2.VmDisk(target="vda", kind=common_pb2.DISK_KIND_LOCAL, size_bytes=2**30),
            common_pb2.VmDisk(target="vdb", kind=common_pb2.DISK_KIND_SHARED, size_bytes=2**29),
            common_pb2.VmDisk(target="vdc"),
        ],
        nics=[
            common_pb2.VmNic(network="prod-vlan"),
            common_pb2.VmNic(network="storage"),
            common_pb2.VmNic(network="prod-vlan"),
        ],
    )
    assert disks_summary(vm) == "vda local 1.0 GiB, vdb shared 512 MiB, vdc unspecified ?"
    assert networks_summary(vm) == "prod-vlan, storage"
    assert disks_summary(engine_pb2.Vm()) == networks_summary(engine_pb2.Vm()) == "-"


def test_refusals_are_one_line_with_the_engine_reason(
    capsys: pytest.CaptureFixture[str], engine_address: str, cluster: str
) -> None:
    e = engine_address
    assert run(capsys, e, "networks", "create", "a", "10.2.0.0/24", "--cluster", cluster)[0] == 0

    code, out, err = run(capsys, e, "networks", "create", "b", "10.2.0.0/16", "--cluster", cluster)
    assert code == 1 and out == ""
    assert err.startswith("miglane: FAILED_PRECONDITION: subnet:") and "overlaps" in err

    code, _, err = run(capsys, e, "networks", "create", "c", "10.300.0.0/24", "--cluster", cluster)
    assert code == 1 and "INVALID_ARGUMENT: subnet" in err

    code, _, err = run(capsys, e, "networks", "set-role", "nosuch", "migration")
    assert code == 1 and "no network with id or name 'nosuch'" in err

    code, _, err = run(capsys, e, "hosts", "add", "h1", "not an address", "--cluster", cluster)
    assert code == 1 and "INVALID_ARGUMENT: agent_address" in err
    assert "Traceback" not in err


def test_hosts_and_events(
    capsys: pytest.CaptureFixture[str], engine_address: str, cluster: str
) -> None:
    e = engine_address
    assert run(capsys, e, "hosts", "add", "host1", "127.0.0.1:1", "--cluster", "Prod")[0] == 0
    code, out, _ = run(capsys, e, "hosts", "list", "--json")
    (host,) = json.loads(out)
    assert host["name"] == "host1" and host["status"] == "HOST_STATUS_UNREACHABLE"
    assert host["status_reason"]

    # The host was enrolled: its certificate's days left (a fresh one: a day short of its
    # lifetime, rounded down), in the table and in `hosts show`.
    code, out, _ = run(capsys, e, "hosts", "list")
    [header, row] = table(out)
    assert row[header.index("CERT DAYS")] == str(LEAF_DAYS - 1)
    code, out, _ = run(capsys, e, "hosts", "show", "host1")
    assert f"({LEAF_DAYS - 1} days left)" in out

    code, out, _ = run(capsys, e, "events", "list")
    assert code == 0
    assert "cluster-created" in out and "host-added" in out
    # Each event's row shows who caused it.
    rows = table(out)
    _, listed, _ = run(capsys, e, "events", "list", "--json")
    actors = [event["actor"] for event in json.loads(listed)]
    assert actors and all(actors)
    assert [row[rows[0].index("ACTOR")] for row in rows[1:]] == actors
    code, out, _ = run(capsys, e, "hosts", "remove", "host1")
    assert code == 0 and "removed host" in out


def test_unreachable_engine_says_how_to_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    authority = CertificateAuthority.init(tmp_path / "pki")
    credentials = admin_credentials(authority).directory
    code = main(["clusters", "list", "--engine", "127.0.0.1:1", "--credentials", str(credentials)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "cannot reach the engine at 127.0.0.1:1" in err and "MIGLANE_ENGINE" in err


def test_missing_credentials_say_how_to_get_some(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["clusters", "list", "--engine", "127.0.0.1:1"])  # the default location: empty
    _, err = capsys.readouterr()
    assert code == 1
    default = tmp_path / "config" / "miglane" / "credentials"
    assert err.count("\n") == 1
    assert f"miglane pki issue NAME --role admin --out {default}" in err


def test_an_operator_is_told_which_role_a_command_needs(
    capsys: pytest.CaptureFixture[str], engine_address: str, tmp_path: Path
) -> None:
    authority = CertificateAuthority.open(tmp_path / "engine" / "pki")
    authority.issue("olga", Role.OPERATOR, tmp_path / "olga")
    argv = ["clusters", "create", "Prod", "--credentials", str(tmp_path / "olga")]
    code = main([*argv, "--engine", engine_address])
    _, err = capsys.readouterr()
    assert code == 1
    assert refusal("CreateCluster", "olga", Role.OPERATOR) in err


def test_events_watch_follows_until_ctrl_c(
    capsys: pytest.CaptureFixture[str], engine_address: str, tmp_path: Path
) -> None:
    out_path = tmp_path / "watch.out"
    argv = [sys.executable, "-m", "miglane.cli.main", "events", "watch", "--engine", engine_address]
    with open(out_path, "w") as out:
        watcher = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "cluster-created" not in out_path.read_text():
            # Until the watcher is subscribed, a new cluster's event may come before it.
            run(capsys, engine_address, "clusters", "create", f"W{time.monotonic_ns()}")
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.5)
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=15) == 0, out_path.read_text()
    finally:
        watcher.kill()
        watcher.wait()
    assert "Traceback" not in out_path.read_text()
