# The team's reference for "how fast can SimPy go" (shared/bench/naive_simpy.py), kept here so that
# benchmarks/speed.py can run it beside iosim in one process tree. Run: python naive_simpy.py N_PAGES
"""Reference for a SimPy model's speed: a bare page pipeline (disk DMA -> copy -> NIC DMA), one process per page,
no bookkeeping. The source issues pages at the disk's rate, so queues stay short and the cost stays linear in N
(an earlier version issued them twice as fast: its disk queue grew to N/2 and SimPy's list pop made it superlinear)."""
import simpy, time, sys
N = int(sys.argv[1]) if len(sys.argv) > 1 else 262144  # 1 GiB of 4 KiB pages
def page(env, disk, nic):
    with disk.request() as r:
        yield r
        yield env.timeout(1.0)
    yield env.timeout(0.3)
    with nic.request() as r:
        yield r
        yield env.timeout(0.8)
def source(env, disk, nic):
    for i in range(N):
        env.process(page(env, disk, nic))
        yield env.timeout(1.0)
def chain(env):
    for i in range(N*3):
        yield env.timeout(1)
env = simpy.Environment()
t=time.perf_counter(); env.process(chain(env)); env.run(); d=time.perf_counter()-t
print(f"bare timeouts: {N*3/d/1e6:.2f} M events/s ({N*3} in {d:.2f}s)")
env = simpy.Environment(); disk=simpy.Resource(env,1); nic=simpy.Resource(env,1)
t=time.perf_counter(); env.process(source(env, disk, nic)); env.run(); d=time.perf_counter()-t
print(f"page pipeline: {N/d/1e3:.1f} k pages/s; {N} pages of 4 KiB in {d:.3f}s")
