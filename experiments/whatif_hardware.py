"""What if the hardware changes: goodput and CPU per path as the NIC and memory get faster.

On a 2024 server with the file in the page cache, a 1-10 Gbit/s link limits every path;
from about 40 Gbit/s the copying paths run out of one core (the sender's) while the
zero-copy paths keep up with the link, and a slow memory bus caps even them. Each point's
marker names the resource the model found busiest (Result.bottleneck).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import PATHS, charts
from iosim.experiment import Case, announce, parse_args, row, write_csv

NAME = "whatif_hardware"
PROFILE = "nvme-100g-2024"
FAST_NIC_GBIT_S = 400  # the membus sweep runs on a NIC fast enough not to be the limit


def nic_rates_gbit_s(quick: bool) -> list[float]:
    """NIC link rates to try, Gbit/s."""
    return [1, 100, 400] if quick else [1, 2.5, 10, 25, 40, 100, 200, 400]


def membus_gbyte_s(quick: bool) -> list[float]:
    """Memory-bus bandwidths to try, GB/s (decimal, like DRAM data sheets)."""
    return [10, 150] if quick else [5, 10, 20, 40, 75, 150, 300]


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep NIC rate, then memory bandwidth, for every path; write CSV and two charts."""
    args = parse_args(NAME, __doc__, argv)
    size_bytes = (4 if args.quick else 256) * 1024 * 1024  # 4 or 256 MiB
    scenario = {"cache": "warm"}
    rows, nic_points, bus_points = [], [], []
    for gbit in nic_rates_gbit_s(args.quick):
        for path in PATHS:
            case = Case(path, size_bytes, PROFILE, overrides={"nic.rate": f"{gbit}Gbit/s"},
                        scenario=scenario)
            result = case.run()
            nic_points.append((gbit, result))
            rows.append(row(case, result, sweep="nic.rate", nic_rate_gbit_s=gbit,
                            membus_gbyte_s=""))
    for gbyte in membus_gbyte_s(args.quick):
        for path in PATHS:
            case = Case(path, size_bytes, PROFILE, scenario=scenario,
                        overrides={"nic.rate": f"{FAST_NIC_GBIT_S}Gbit/s",
                                   "membus.bandwidth": f"{gbyte}GB/s"})
            result = case.run()
            bus_points.append((gbyte, result))
            rows.append(row(case, result, sweep="membus.bandwidth",
                            nic_rate_gbit_s=FAST_NIC_GBIT_S, membus_gbyte_s=gbyte))
    files = [write_csv(rows, args.out / f"{NAME}.csv")]
    files += charts.save_figure(charts.sweep_chart(
        nic_points, "NIC link rate (Gbit/s, log scale)",
        f"What if the NIC is faster? ({PROFILE}, warm cache)"), args.out / f"{NAME}_nic")
    files += charts.save_figure(charts.sweep_chart(
        bus_points, "memory bus bandwidth (GB/s, log scale)",
        f"What if memory is slower or faster? ({PROFILE}, {FAST_NIC_GBIT_S} Gbit/s NIC)"),
        args.out / f"{NAME}_membus")
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
