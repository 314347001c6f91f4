"""The migration commands against a real engine and real agent processes on the fake driver
(the same fake fleet `make run` uses without root): start, candidates, bandwidth, cancel, show."""

from __future__ import annotations

import pytest
from cli_support import run_json, wait_for

from miglane.cli.main import main
from miglane.cli.migrations import MIB, disk_copy_label, path_label, print_migration
from miglane.v1 import engine_pb2


def test_candidates_say_who_can_take_the_vm(
    capsys: pytest.CaptureFixture[str], cluster_engine: str
) -> None:
    main(["migrations", "candidates", "fake-host0-vm0", "--engine", cluster_engine])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"fake-host0", "fake-host1", "fake-host2"}
    assert "the VM runs there already" in rows["fake-host0"]
    assert rows["fake-host1"].split()[1:4] == ["yes", "yes", "migration"]


def test_start_change_bandwidth_and_cancel(
    capsys: pytest.CaptureFixture[str], cluster_engine: str
) -> None:
    e = cluster_engine
    started = run_json(capsys, e, "migrations", "start", "fake-host0-vm0", "--bandwidth-mibps", "1")
    assert started["automatic"] is True
    assert started["fallback_reason"] == "FALLBACK_REASON_UNSPECIFIED"
    assert started["migration_uri"].startswith("tcp://10.231.2.")
    assert started["max_bandwidth_mib_per_second"] == 1

    changed = run_json(capsys, e, "migrations", "bandwidth", started["id"], "2")
    assert changed["max_bandwidth_mib_per_second"] == 2
    active = run_json(capsys, e, "migrations", "list", "--active")
    assert [m["id"] for m in active] == [started["id"]]

    cancelled = run_json(capsys, e, "migrations", "cancel", started["id"])
    assert cancelled["phase"] == "MIGRATION_PHASE_CANCELLED"
    vms = {vm["name"]: vm for vm in run_json(capsys, e, "vms", "list")}
    hosts = {h["id"]: h["name"] for h in run_json(capsys, e, "hosts", "list")}
    assert hosts[vms["fake-host0-vm0"]["host_id"]] == "fake-host0"


def test_manual_migration_completes_on_the_chosen_host(
    capsys: pytest.CaptureFixture[str], cluster_engine: str
) -> None:
    e = cluster_engine
    started = run_json(capsys, e, "migrations", "start", "fake-host0-vm1", "--to", "fake-host2")
    assert started["automatic"] is False

    def completed() -> bool:
        shown = run_json(capsys, e, "migrations", "show", started["id"])
        assert shown["phase"] not in ("MIGRATION_PHASE_FAILED", "MIGRATION_PHASE_CANCELLED"), shown
        return bool(shown["phase"] == "MIGRATION_PHASE_COMPLETED")

    wait_for(completed, "the migration to complete")
    shown = run_json(capsys, e, "migrations", "show", started["id"])
    assert shown["progress_percent"] == 100
    hosts = {h["name"]: h["id"] for h in run_json(capsys, e, "hosts", "list")}
    wait_for(
        lambda: (
            {vm["name"]: vm for vm in run_json(capsys, e, "vms", "list")}["fake-host0-vm1"][
                "host_id"
            ]
            == hosts["fake-host2"]
        ),
        "the VM to be reported on fake-host2",
    )


def test_refusals_name_what_to_fix(capsys: pytest.CaptureFixture[str], cluster_engine: str) -> None:
    code = main(["migrations", "start", "no-such-vm", "--engine", cluster_engine])
    assert code == 1 and "no VM with id or name 'no-such-vm'" in capsys.readouterr().err
    code = main(
        ["migrations", "start", "fake-host0-vm0", "--to", "fake-host0", "--engine", cluster_engine]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("miglane: FAILED_PRECONDITION") and "fake-host0" in err


@pytest.mark.parametrize(("processed", "total"), [(0, 0), (0, 1024 * MIB), (256 * MIB, 1024 * MIB)])
def test_show_says_how_much_of_the_local_disks_is_copied(
    capsys: pytest.CaptureFixture[str], processed: int, total: int
) -> None:
    migration = engine_pb2.Migration(
        id="m1", disk_processed_bytes=processed, disk_total_bytes=total
    )
    print_migration(migration, as_json=False)
    disk_lines = [
        line for line in capsys.readouterr().out.splitlines() if line.split()[0] == "disk"
    ]
    if total:
        assert len(disk_lines) == 1
        assert disk_lines[0].split(None, 1)[1] == disk_copy_label(migration)
        assert disk_copy_label(migration) == (f"{processed // MIB} of {total // MIB} MiB copied")
    else:
        assert disk_lines == []


def test_list_and_show_name_the_hosts(
    capsys: pytest.CaptureFixture[str], cluster_engine: str
) -> None:
    e = cluster_engine
    started = run_json(capsys, e, "migrations", "start", "fake-host1-vm0", "--to", "fake-host0")
    hosts = {h["name"]: h["id"] for h in run_json(capsys, e, "hosts", "list")}
    assert main(["migrations", "list", "--engine", e]) == 0
    table = capsys.readouterr().out.splitlines()
    header = table[0].split()
    row = next(line.split() for line in table[1:] if line.startswith(started["id"]))
    assert row[header.index("FROM")] == "fake-host1"
    assert row[header.index("TO")] == "fake-host0"
    assert main(["migrations", "show", started["id"], "--engine", e]) == 0
    fields = dict(
        line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line.strip()
    )
    assert fields["from"] == f"fake-host1 ({hosts['fake-host1']})"
    assert fields["to"] == f"fake-host0 ({hosts['fake-host0']})"


@pytest.mark.parametrize(
    ("verdict", "flagged"),
    [(engine_pb2.PATH_VERDICT_CONFIRMED, False), (engine_pb2.PATH_VERDICT_OFF_PATH, True)],
)
def test_show_gives_the_proof_of_path_and_flags_a_misroute(
    capsys: pytest.CaptureFixture[str], verdict: int, flagged: bool
) -> None:
    summary = "migration: 257 MiB over mig0 for 256 MiB of memory"
    migration = engine_pb2.Migration(
        id="m1", path_proof=engine_pb2.MigrationPathProof(verdict=verdict, summary=summary)
    )
    print_migration(migration, as_json=False)
    path = [line for line in capsys.readouterr().out.splitlines() if line.split()[0] == "path"]
    assert len(path) == 1 and path[0].endswith(summary)
    assert ("OFF PATH" in path[0]) is flagged


def test_show_has_no_path_before_it_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    print_migration(engine_pb2.Migration(id="m1"), as_json=False)
    path = [line for line in capsys.readouterr().out.splitlines() if line.split()[0] == "path"]
    assert path_label(engine_pb2.Migration(id="m1")) == ""
    assert [line.split() for line in path] == [["path", "-"]]


def test_set_a_vms_priority_and_start_with_a_per_call_one(
    capsys: pytest.CaptureFixture[str], cluster_engine: str
) -> None:
    e = cluster_engine
    code = main(["vms", "set-priority", "fake-host0-vm1", "high", "--engine", e])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == "VM fake-host0-vm1: migration priority high"
    main(["vms", "list", "--engine", e])
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].split().index("PRIORITY")
    by_name = {line.split()[1]: line.split()[column] for line in lines[2:]}
    assert by_name["fake-host0-vm1"] == "high" and by_name["fake-host0-vm0"] == "normal"
    main(["vms", "show", "fake-host0-vm1", "--engine", e])
    shown = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["migration", "priority", "high"] in shown
    # A word it does not know: argparse refuses it before any call.
    with pytest.raises(SystemExit):
        main(["vms", "set-priority", "fake-host0-vm1", "urgent", "--engine", e])
    assert "invalid choice: 'urgent'" in capsys.readouterr().err
    started = run_json(
        capsys, e, "migrations", "start", "fake-host0-vm1", "--priority", "low",
        "--bandwidth-mibps", "1",
    )  # fmt: skip
    assert started["priority"] == "MIGRATION_PRIORITY_LOW" and started["priority_overridden"]
    main(["migrations", "show", started["id"], "--engine", e])
    assert "low (set on the migration)" in capsys.readouterr().out
    run_json(capsys, e, "migrations", "cancel", started["id"])
