"""The `miglane pki` commands: create the certificate authority, issue credentials to people,
scripts and hosts, list what was issued (with expiry), revoke."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from miglane.cli.output import print_table
from miglane.engine.cli import default_state_dir
from miglane.pki import (
    EXPIRY_WARNING,
    LEAF_DAYS,
    PERSON_ROLES,
    CertificateAuthority,
    CertificateInfo,
    PkiError,
    days_left,
    expiring,
)

PKI_DIR_ENV = "MIGLANE_PKI_DIR"


def default_pki_dir() -> Path:
    from_env = os.environ.get(PKI_DIR_ENV)
    return Path(from_env) if from_env else default_state_dir() / "pki"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--pki-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the certificate authority's directory (default ${PKI_DIR_ENV}, else "
        f"{default_state_dir() / 'pki'})",
    )
    pki = sub.add_parser(
        "pki", help="certificate authority: identities of the engine, hosts, people"
    )
    verbs = pki.add_subparsers(dest="verb", required=True, metavar="VERB")

    init = verbs.add_parser(
        "init", parents=[parent], help="create the CA and the engine's identity (DIR/engine)"
    )
    init.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="ADDR",
        help="an extra IP address the engine serves on (repeatable; 127.0.0.1 is always in)",
    )
    init.set_defaults(handler=_refusing_errors(_init))

    issue = verbs.add_parser(
        "issue", parents=[parent], help="issue a person or script a credentials directory"
    )
    issue.add_argument("name", help="identity name (letters, digits, '-', '.')")
    issue.add_argument("--role", required=True, choices=[r.value for r in PERSON_ROLES])
    issue.add_argument("--out", required=True, type=Path, metavar="DIR")
    _add_days(issue)
    issue.set_defaults(handler=_refusing_errors(_issue))

    host = verbs.add_parser(
        "issue-host", parents=[parent], help="issue a host its agent, libvirt and QEMU files"
    )
    host.add_argument("name", help="the host's name, as the engine knows it")
    host.add_argument(
        "--address",
        action="append",
        required=True,
        metavar="ADDR",
        help="management address first, then its migration address (repeatable)",
    )
    host.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="default DIR/hosts/NAME"
    )
    _add_days(host)
    host.set_defaults(handler=_refusing_errors(_issue_host))

    listing = verbs.add_parser("list", parents=[parent], help="every certificate issued")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_refusing_errors(_list))

    revoke = verbs.add_parser(
        "revoke", parents=[parent], help="revoke a serial, or every live certificate of a name"
    )
    revoke.add_argument("target", metavar="SERIAL|NAME")
    revoke.set_defaults(handler=_refusing_errors(_revoke))


def _add_days(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days", type=int, default=LEAF_DAYS, metavar="N", help="validity (default %(default)s)"
    )


def _refusing_errors(handler: Callable[[argparse.Namespace], None]) -> Callable[..., int]:
    """A refusal is one line on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            handler(args)
        except PkiError as error:
            print(f"miglane: {error}", file=sys.stderr)
            return 1
        return 0

    return run


def _pki_dir(args: argparse.Namespace) -> Path:
    return args.pki_dir if args.pki_dir is not None else default_pki_dir()


def _init(args: argparse.Namespace) -> None:
    pki_dir = _pki_dir(args)
    authority = CertificateAuthority.init(pki_dir, engine_addresses=args.address)
    print(f"certificate authority in {pki_dir} (valid until {authority.not_after:%Y-%m-%d})")
    print(f"engine credentials in {authority.layout.engine}")


def _issue(args: argparse.Namespace) -> None:
    authority = CertificateAuthority.open(_pki_dir(args))
    info = authority.issue(args.name, args.role, args.out, days=args.days)
    _print_issued(info, args.out)


def _issue_host(args: argparse.Namespace) -> None:
    authority = CertificateAuthority.open(_pki_dir(args))
    info = authority.issue_host(args.name, args.address, args.out, days=args.days)
    _print_issued(info, args.out or authority.layout.host(args.name))


def _print_issued(info: CertificateInfo, out: Path) -> None:
    print(
        f"{info.name} ({info.role.value}): serial {info.serial_hex}, valid until "
        f"{info.not_after:%Y-%m-%d}; credentials in {out}"
    )


def _list(args: argparse.Namespace) -> None:
    infos = CertificateAuthority.open(_pki_dir(args)).list()
    now = datetime.now(UTC)
    soon = {info.serial for info in expiring(infos, now, EXPIRY_WARNING)}
    if args.json:
        rows = [_as_json(info, now, info.serial in soon) for info in infos]
        json.dump(rows, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    print_table(
        ("NAME", "ROLE", "SERIAL", "NOT AFTER", "DAYS LEFT", "REVOKED", "EXPIRING"),
        [
            (
                info.name,
                info.role.value,
                info.serial_hex,
                f"{info.not_after:%Y-%m-%d %H:%M}",
                days_left(info, now),
                info.revoked,
                info.serial in soon,
            )
            for info in infos
        ],
    )


def _as_json(info: CertificateInfo, now: datetime, soon: bool) -> dict[str, object]:
    return {
        "name": info.name,
        "role": info.role.value,
        "serial": info.serial_hex,
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "days_left": days_left(info, now),
        "revoked": info.revoked,
        "expiring": soon,
        "sans": list(info.sans),
        "fingerprint": info.fingerprint,
    }


def _revoke(args: argparse.Namespace) -> None:
    authority = CertificateAuthority.open(_pki_dir(args))
    for info in authority.revoke(args.target):
        print(f"revoked {info.serial_hex} of {info.name} ({info.role.value})")
    print(f"{authority.layout.crl} re-signed")
