"""The command palette's list: which action is offered for which item, and what it starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from miglane.tui.commands import palette_commands
from miglane.tui.models import TABS, Inventory, MigrationBoard
from miglane.v1 import common_pb2, engine_pb2


class RecordedActions:
    """Stands in for `OperatorActions`: notes each workflow started, with its arguments."""

    def __init__(self) -> None:
        self.started: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def __getattr__(self, workflow: str):  # type: ignore[no-untyped-def]
        def start(*args: object, **kwargs: object) -> None:
            self.started.append((workflow, args, kwargs))

        return start


@dataclass
class Context:
    inventory: Inventory
    board: MigrationBoard = field(default_factory=MigrationBoard)
    actions: RecordedActions = field(default_factory=RecordedActions)
    shown: list[str] = field(default_factory=list)

    def request_refresh(self) -> None:
        pass

    def action_show_tab(self, tab: str) -> None:
        self.shown.append(tab)

    def action_refresh(self) -> None:
        pass


def _context() -> Context:
    cluster = engine_pb2.Cluster(id="c", name="prod")
    networks = [
        engine_pb2.Network(
            id="n1", cluster_id="c", name="mig", roles=[common_pb2.NETWORK_ROLE_MIGRATION]
        ),
        engine_pb2.Network(id="n2", cluster_id="c", name="spare"),
    ]
    hosts = [
        engine_pb2.Host(id="h1", cluster_id="c", name="h1", status=engine_pb2.HOST_STATUS_UP),
        engine_pb2.Host(
            id="h2", cluster_id="c", name="h2", status=engine_pb2.HOST_STATUS_MAINTENANCE
        ),
    ]
    vms = [
        engine_pb2.Vm(id="v1", cluster_id="c", name="idle", host_id="h1"),
        engine_pb2.Vm(id="v2", cluster_id="c", name="moving", host_id="h1"),
    ]
    context = Context(Inventory.of([cluster], networks, hosts, vms))
    context.board.apply(
        engine_pb2.Migration(
            id="m1", vm_id="v2", vm_name="moving", phase=common_pb2.MIGRATION_PHASE_RUNNING
        )
    )
    return context


def test_each_item_is_offered_the_actions_its_state_allows() -> None:
    names = [command.name for command in palette_commands(_context())]  # type: ignore[arg-type]
    assert names == [
        *(f"Show {tab}" for tab in TABS),
        "Refresh inventory",
        "Take migration role from network prod/mig",
        "Grant migration role to network prod/spare",
        "Set migration priority of VM idle…",
        "Migrate VM idle to…",
        "Migrate VM idle automatically",
        "Set migration priority of VM moving…",
        "Cancel migration of moving",
        "Change bandwidth of moving's migration",
        "Maintenance on: host h1",
        "Maintenance off: host h2",
    ]


def test_a_command_starts_its_workflow_on_its_item() -> None:
    context = _context()
    commands = {c.name: c for c in palette_commands(context)}  # type: ignore[arg-type]
    for name in (
        "Show hosts",
        "Grant migration role to network prod/spare",
        "Migrate VM idle automatically",
        "Change bandwidth of moving's migration",
        "Maintenance off: host h2",
    ):
        commands[name].run()
    assert context.shown == ["hosts"]
    assert context.actions.started == [
        ("grant_migration_role", ("n2",), {}),
        ("migrate_vm", ("v1",), {"choose": False}),
        ("change_bandwidth", ("m1",), {}),
        ("set_maintenance", ("h2", False), {}),
    ]
