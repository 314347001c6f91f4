"""Trust benchmark: what TLS, client certificates and per-call authorization cost the engine.

Runs the engine benchmark's storm (`bench_engine.storm`: migrations through the real engine over
fake agents in a helper process, watched by WatchMigrations clients in another) in two modes,
alternated round by round (A B, B A, A B, ...) so that drift in the machine's load falls on
both alike:
- trusted: the default engine (mutual TLS with a client certificate of the engine's CA, the
  role table checked on every call, the revocation list consulted), the admin's identity in the
  clients, the fake agents over mutual TLS with their host identities;
- plaintext: `EngineConfig.insecure` (no TLS, no authorization), plaintext agents and clients.

Prints, per mode over every round's samples pooled, MigrateVm latency and WatchMigrations lag
(p50, p99), and the ratio trusted / plaintext of the p50s, against the target.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench_engine import Storm, pct, phase_counts, storm

# The most trust may cost: trusted p50 / plaintext p50.
TARGET_RATIO = 1.10
TRUSTED = "TLS + authorization"
PLAINTEXT = "plaintext"


def modes_of_round(index: int) -> tuple[bool, bool]:
    """The `insecure` flag of each storm of round `index` (0-based): A B, then B A, ..."""
    return (False, True) if index % 2 == 0 else (True, False)


def pooled(storms: list[Storm]) -> Storm:
    phases: dict[int, int] = {}
    for s in storms:
        for phase, count in s.phases.items():
            phases[phase] = phases.get(phase, 0) + count
    return Storm(
        elapsed_s=sum(s.elapsed_s for s in storms),
        phases=phases,
        migrate_s=[x for s in storms for x in s.migrate_s],
        bare_s=[x for s in storms for x in s.bare_s],
        lags=[x for s in storms for x in s.lags],
    )


def comparison(what: str, trusted: list[float], plaintext: list[float], rounds: str) -> str:
    ms = 1000.0
    ratio = pct(trusted, 50) / pct(plaintext, 50)
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    return (
        f"{what} with {TRUSTED}: p50 {pct(trusted, 50) * ms:.2f} ms, p99 "
        f"{pct(trusted, 99) * ms:.2f} ms; {PLAINTEXT}: p50 {pct(plaintext, 50) * ms:.2f} ms, "
        f"p99 {pct(plaintext, 99) * ms:.2f} ms; ratio p50 {ratio:.2f}x "
        f"(target <= {TARGET_RATIO:.2f}x: {verdict}; per round {rounds})"
    )


def per_round_ratios(trusted: list[list[float]], plaintext: list[list[float]]) -> str:
    pairs = zip(trusted, plaintext, strict=True)
    return ", ".join(f"{pct(t, 50) / pct(p, 50):.2f}x" for t, p in pairs)


async def run(args: argparse.Namespace) -> int:
    by_mode: dict[bool, list[Storm]] = {False: [], True: []}
    for index in range(args.rounds):
        for insecure in modes_of_round(index):
            measured = await storm(args, insecure=insecure)
            if measured is None:
                return 1
            by_mode[insecure].append(measured)
    trusted, plaintext = pooled(by_mode[False]), pooled(by_mode[True])
    print(
        f"{args.migrations} migrations over {args.hosts} fake hosts (limit {args.limit} out/in "
        f"per host), {args.watchers} WatchMigrations clients; {args.rounds} rounds of each mode, "
        f"alternated (A B, B A, ...); the storms took {trusted.elapsed_s:.1f} s with "
        f"{TRUSTED} ({phase_counts(trusted.phases)}), {plaintext.elapsed_s:.1f} s "
        f"{PLAINTEXT} ({phase_counts(plaintext.phases)})"
    )
    print(
        comparison(
            "MigrateVm latency",
            trusted.migrate_s,
            plaintext.migrate_s,
            per_round_ratios(
                [s.migrate_s for s in by_mode[False]], [s.migrate_s for s in by_mode[True]]
            ),
        )
    )
    print(
        comparison(
            "WatchMigrations lag",
            trusted.lags,
            plaintext.lags,
            per_round_ratios([s.lags for s in by_mode[False]], [s.lags for s in by_mode[True]]),
        )
    )
    print(
        comparison(
            "bare unary call (health Check, no authorization)",
            trusted.bare_s,
            plaintext.bare_s,
            per_round_ratios([s.bare_s for s in by_mode[False]], [s.bare_s for s in by_mode[True]]),
        )
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="storms of each mode")
    parser.add_argument("--migrations", type=int, default=200)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--limit", type=int, default=4, help="per-host outgoing/incoming limit")
    parser.add_argument("--speed", type=float, default=10.0, help="fake clock speed-up")
    parser.add_argument("--timeout", type=float, default=120.0)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
