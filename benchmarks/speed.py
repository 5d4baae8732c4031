"""Speed and memory figures (not a test): seconds per simulated GiB and peak RSS.

    python benchmarks/speed.py                 # 1 GiB per path + 64 GiB through a 1 GiB cache
    python benchmarks/speed.py --quick         # 256 MiB per path, 4 GiB memory run

Targets (issue #2): <= 1 s per simulated GiB per path on a 2-core machine; a 64 GiB transfer
through a 1 GiB page cache in <= 300 MB peak RSS. Each measurement runs in a fresh process
so the RSS of one does not hide in another's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

GIB = 1 << 30


def _child(path: str, size_bytes: int, cache_bytes: int) -> None:
    import iosim

    start = time.perf_counter()
    r = iosim.simulate(path, size_bytes, overrides={"kernel.page_cache": cache_bytes})
    wall_s = time.perf_counter() - start
    peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB -> bytes
    print(json.dumps({"path": path, "size_bytes": size_bytes, "wall_s": wall_s,
                      "peak_rss_bytes": peak_rss_bytes, "ok": not r.invariant_violations,
                      "goodput_bps": r.goodput_bps}))


def measure(path: str, size_bytes: int, cache_bytes: int = GIB) -> dict:
    """Run one simulation in a fresh interpreter and return its figures."""
    out = subprocess.run([sys.executable, __file__, "--child", path, str(size_bytes),
                          str(cache_bytes)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-path", default="sendfile_sg")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0
    from iosim import PATHS

    size = GIB // 4 if args.quick else GIB
    print(f"{'path':13} {'s per GiB':>10} {'peak RSS':>10}  target <= 1 s/GiB")
    for path in PATHS:
        m = measure(path, size)
        per_gib = m["wall_s"] * GIB / size
        print(f"{path:13} {per_gib:10.2f} {m['peak_rss_bytes'] / 1e6:8.0f} MB"
              f"  {'ok' if per_gib <= 1.0 else 'SLOW'}{'' if m['ok'] else '  INVARIANTS!'}")
    big = 4 * GIB if args.quick else 64 * GIB
    m = measure(args.memory_path, big)
    print(f"\n{args.memory_path}: {big // GIB} GiB through a 1 GiB page cache: "
          f"{m['wall_s']:.1f} s wall, peak RSS {m['peak_rss_bytes'] / 1e6:.0f} MB "
          f"(target <= 300 MB: {'ok' if m['peak_rss_bytes'] <= 300e6 else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
