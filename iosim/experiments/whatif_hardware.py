"""What if the hardware changes: goodput and CPU per path as the NIC and memory get faster.

On a 2024 server with the file in the page cache, a slow link limits every path; as the
link gets faster the paths that copy run out of one core (the sender's) first, and a slow
memory bus caps even the zero-copy paths. Each point's marker names the resource the
model found busiest (Result.bottleneck).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import charts
from iosim.experiments.harness import (
    Case,
    Planned,
    announce,
    entry_point,
    execute,
    overrides,
    parse_args,
)
from iosim.paths import PATHS

NAME = "whatif_hardware"
PROFILE = "nvme-100g-2024"
MIB = 1024 * 1024  # bytes per MiB
SIZE_BYTES, QUICK_SIZE_BYTES = 256 * MIB, 4 * MIB
FAST_NIC_GBIT_S = 400  # the membus sweep runs on a NIC fast enough not to be the limit
NIC, MEMBUS = "nic.rate", "membus.bandwidth"


def nic_rates_gbit_s(quick: bool) -> list[float]:
    """NIC link rates to try, Gbit/s."""
    return [1, 100, 400] if quick else [1, 2.5, 10, 25, 40, 100, 200, 400]


def membus_gbyte_s(quick: bool) -> list[float]:
    """Memory-bus bandwidths to try, GB/s (decimal, like DRAM data sheets)."""
    return [10, 150] if quick else [5, 10, 20, 40, 75, 150, 300]


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep NIC rate, then memory bandwidth, for every path; write CSV and two charts."""
    args = parse_args(NAME, __doc__, argv, PROFILE,
                      "file size (default 256MiB, 4MiB with --quick)")
    size_bytes = args.size_bytes or (QUICK_SIZE_BYTES if args.quick else SIZE_BYTES)
    scenario = {"cache": "warm"}
    plan = [Planned(Case(path, size_bytes, args.profile, scenario=scenario,
                         overrides=overrides(args, {NIC: f"{gbit}Gbit/s"})),
                    {"sweep": NIC, "nic_rate_gbit_s": gbit, "membus_gbyte_s": ""})
            for gbit in nic_rates_gbit_s(args.quick) for path in PATHS]
    plan += [Planned(Case(path, size_bytes, args.profile, scenario=scenario,
                          overrides=overrides(args, {NIC: f"{FAST_NIC_GBIT_S}Gbit/s",
                                                     MEMBUS: f"{gbyte}GB/s"})),
                     {"sweep": MEMBUS, "nic_rate_gbit_s": FAST_NIC_GBIT_S,
                      "membus_gbyte_s": gbyte})
             for gbyte in membus_gbyte_s(args.quick) for path in PATHS]
    done = execute(args, plan)
    nic_points = [(d.labels["nic_rate_gbit_s"], d.result) for d in done
                  if d.labels["sweep"] == NIC]
    bus_points = [(d.labels["membus_gbyte_s"], d.result) for d in done
                  if d.labels["sweep"] == MEMBUS]
    profile = done[0].result.profile["name"]
    files = [args.out / f"{NAME}.csv"]
    files += charts.save_figure(charts.sweep_chart(
        nic_points, "NIC link rate (Gbit/s, log scale)",
        f"What if the NIC is faster? ({profile}, warm cache)"), args.out / f"{NAME}_nic")
    files += charts.save_figure(charts.sweep_chart(
        bus_points, "memory bus bandwidth (GB/s, log scale)",
        f"What if memory is slower or faster? ({profile}, {FAST_NIC_GBIT_S} Gbit/s NIC)"),
        args.out / f"{NAME}_membus")
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(entry_point(main)())
