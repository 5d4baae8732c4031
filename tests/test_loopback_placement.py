"""Where a loopback host's receiver runs: on another core (``nic.loopback_split``), or on
the sender's one core, shared as EEVDF shares it (``hw/nic.py:SharedCore``).

The mechanism (``hw/nic.py:Nic._loopback_split``): ``loopback_xmit`` -> ``__netif_rx``
queues each skb on the transmitting CPU's backlog (``net/core/dev.c:enqueue_to_backlog``
with ``smp_processor_id()``), so its TCP input runs in the sender's softirq, on the sender's
core; the receiver's ``recv()`` and its copy run on its own core. Each skb then costs the
sender ``cpu.split_tx_skb`` (copied data) or ``cpu.split_tx_paged_skb`` (page frags) and the
receiver ``cpu.split_rx_skb`` / ``split_rx_paged_skb`` plus its copy, instead of
``per_skb`` / ``rx_skb`` / ``rx_frag``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import iosim
from iosim import events as events_mod
from iosim import net
from iosim.config import ConfigError, load_profile
from iosim.events import Kind
from iosim.trace import Tracer
from tests import strategies as s

SPLIT = {"nic.loopback": True, "cpu.cores": 2, "nic.loopback_split": True,
         "kernel.model": "linux-6", "nic.mtu": "64KiB", "cpu.split_tx_skb": "20us",
         "cpu.split_rx_skb": "8us", "cpu.split_tx_paged_skb": "6us",
         "cpu.split_rx_paged_skb": "3us"}
SAME = {**SPLIT, "nic.loopback_split": False}


def run(path: str, overrides: dict, size: str = "4MiB"):
    tracer = Tracer()
    r = iosim.simulate(path, size, profile="teaching", cache="warm", overrides=overrides,
                       tracer=tracer)
    assert r.invariant_violations == [] and r.bytes_delivered == r.bytes_requested
    return r, tracer.sorted_events()


def delivered_skbs(events) -> int:
    """The receiver's copies out of the socket: one per skb delivered."""
    return sum(1 for e in events if e.kind is Kind.COPY and e.track == "receiver")


@pytest.mark.parametrize("path, tx_s, rx_s", [
    ("sendfile_sg", 6e-6, 3e-6), ("splice", 6e-6, 3e-6), ("read_write", 20e-6, 8e-6),
    ("mmap_write", 20e-6, 8e-6)])
def test_each_skb_costs_the_sender_and_the_receiver_their_split_share(path, tx_s, rx_s):
    """The sender's TCP work is its per-skb figure times the skbs it sent (nothing at the
    skb's allocation: per_skb is replaced); the receiver's work is its per-skb figure times
    the skbs plus the copy of every byte at the teaching profile's DRAM copy speed (its
    cache is 1 byte: nothing stays cached)."""
    r, events = run(path, SPLIT)
    skbs = delivered_skbs(events)
    assert skbs >= -(-r.bytes_requested // (64 * 1024))
    prof = load_profile("teaching")
    copy_s = r.bytes_requested / prof.cpu.copy_bandwidth_bytes_per_s
    assert r.cpu_time_by_category["net"] == pytest.approx(skbs * tx_s)
    assert r.cpu_time_by_category["receive"] == pytest.approx(skbs * rx_s + copy_s)


@pytest.mark.parametrize("path, tx_s, rx_s", [("splice", 6e-6, 3e-6), ("read_write", 20e-6, 8e-6)])
def test_on_two_cpus_a_skb_pays_the_fixed_share_and_its_bytes(path, tx_s, rx_s):
    """cpu.split_tail_skb: each skb pays split_tail_skb / (split_tx_skb + split_rx_skb) of
    its kind's two costs whatever its size and of the rest its bytes' share of 64 KiB. By
    hand, split_tx_skb 20 us + split_rx_skb 8 us = 28 us and split_tail_skb 7 us: the share
    is 1/4, so an skb of n bytes costs the sender tx x (1/4 + 3/4 x n / 65536) and the
    receiver rx x the same (page frags: 6 and 3 us), besides the receiver's copy."""
    r, events = run(path, {**SPLIT, "cpu.split_tail_skb": "7us"})
    sizes = [e.nbytes for e in events if e.kind is Kind.DELIVER]
    share = [0.25 + 0.75 * n / (64 << 10) for n in sizes]
    copy_s = r.bytes_requested / load_profile("teaching").cpu.copy_bandwidth_bytes_per_s
    assert min(sizes) < (64 << 10) // 2  # some skbs well below a full one pay less
    assert r.cpu_time_by_category["net"] == pytest.approx(tx_s * sum(share))
    assert r.cpu_time_by_category["receive"] == pytest.approx(rx_s * sum(share) + copy_s)


def test_the_sender_keeps_its_core_and_the_receiver_gets_the_other():
    """Two cores, each with one job: the sender's (its syscalls, pipe ops and the softirq)
    on core 0, the receiver's on core 1, so the run lasts at least as long as the busier
    of the two and the pair is faster than on one core (same placement, same costs)."""
    split, _ = run("sendfile_sg", SPLIT)
    same, _ = run("sendfile_sg", {**SAME, "cpu.cores": 1})
    receive_s = split.cpu_time_by_category["receive"]
    sender_s = split.cpu_time_s - receive_s
    assert split.sim_time_s >= max(sender_s, receive_s) - 1e-12
    assert split.sim_time_s < same.sim_time_s


def test_msg_zerocopy_pages_are_copied_in_the_senders_softirq():
    """skb_orphan_frags_rx runs in __netif_receive_skb_core, the sender's softirq: the copy
    of the pinned pages is the sender's CPU, and the receiver copies the fresh pages out."""
    r, events = run("msg_zerocopy", SPLIT, size="1MiB")
    orphan = [e for e in events if e.kind is Kind.COPY and "skb_orphan_frags_rx" in e.note]
    assert orphan and all(e.track == "cpu" for e in orphan)
    assert sum(e.nbytes for e in orphan) == r.bytes_requested
    assert r.zerocopy_copied_sends > 0  # loopback still reports COPIED


@pytest.mark.parametrize("placement, category", [  # (textbook: no window to move the skbs)
    ({**SPLIT, "kernel.model": "textbook"}, "copy"),
    ({**SAME, "kernel.model": "textbook"}, "receive"), ({**SAME, "cpu.cores": 1}, "copy"),
    ({**SPLIT, "kernel.packet_tap": True, "nic.loopback": False, "nic.loopback_split": False},
     "copy")], ids=["split", "floating", "one core", "packet tap"])
def test_each_page_copied_for_local_delivery_costs_a_new_page(placement, category):
    """net/core/skbuff.c:skb_copy_ubufs copies MSG_ZEROCOPY's pinned pages into order-0
    pages it allocates, ceil(frag bytes / 4 KiB) per skb: with cpu.orphan_page 10 us more,
    each copied skb adds 10 us per such page to the CPU of the copy (the sender's
    softirq's, or the receiver's where it does it), and nothing changes in what is counted.
    (A bus that never limits a copy keeps the copies' own time independent of when they
    run.)"""
    placement = {**placement, "membus.bandwidth": "1PB/s"}

    def run_with(orphan_page: str):
        tracer = Tracer()
        r = iosim.simulate("msg_zerocopy", "1MiB", profile="teaching", cache="warm",
                           overrides={**placement, "cpu.orphan_page": orphan_page},
                           tracer=tracer)
        copied = [e.nbytes for e in tracer.events if e.kind is Kind.COPY
                  and ("skb_orphan_frags_rx" in e.note or "skb_copy_ubufs" in e.note)]
        assert sum(copied) >= 1 << 20
        pages = sum(-(-n // 4096) for n in copied)
        assert 256 <= pages < 256 + len(copied)  # a copied skb: at most one part-page
        return r, pages

    base, base_pages = run_with("1ns")
    more, pages = run_with("10001ns")
    grew = more.cpu_time_by_category[category] - base.cpu_time_by_category[category]
    assert grew == pytest.approx(pages * 10001e-9 - base_pages * 1e-9, rel=1e-9)
    assert (more.copies, more.cpu_copy_bytes) == (base.copies, base.cpu_copy_bytes)
    assert more.bytes_delivered == base.bytes_delivered == 1 << 20


def test_without_split_the_loopback_is_as_before():
    """The split costs play no part when the receiver shares the sender's core."""
    a = iosim.simulate("sendfile_sg", "1MiB", profile="teaching", cache="warm",
                       overrides={**SAME, "cpu.split_tx_paged_skb": "1ms"})
    b = iosim.simulate("sendfile_sg", "1MiB", profile="teaching", cache="warm",
                       overrides=SAME)
    assert a.sim_time_s == b.sim_time_s and a.cpu_time_s == b.cpu_time_s


@pytest.mark.parametrize("overrides", [
    {"nic.loopback_split": True},
    {"nic.loopback_split": True, "nic.loopback": True, "cpu.cores": 1},
])
def test_split_needs_a_loopback_host_with_two_cores(overrides):
    with pytest.raises(ConfigError, match=r"nic\.loopback_split.*expected false unless"):
        iosim.simulate("sendfile_sg", "1MiB", profile="teaching", overrides=overrides)


def test_serve_refuses_a_split_loopback():
    with pytest.raises(ConfigError, match=r"nic\.loopback_split.*iosim serve"):
        iosim.serve("sendfile_sg", profile="teaching", overrides=SPLIT, connections=2,
                    requests=2, file_size="64KiB")


def test_a_receiver_that_caught_up_is_woken_and_starts_late():
    """An skb that finds the receiver idle wakes it (sock_def_readable -> try_to_wake_up,
    an IPI to its idle core); it starts cpu.wakeup_remote later. A receiver that is the
    bottleneck never catches up while the window-limited sender keeps one skb queued
    behind the one it copies: it is woken by the first skb only. The file's 30774 B tail
    is sub-MSS: Minshall holds it (tcp_nagle_check) until the small segment before it is
    ACKed, and the receiver ACKs at the arrival of the skb that makes more than a full
    segment unACKed (__tcp_ack_snd_check), before it has copied them: so the tail is
    queued while the reader is still busy. A fast receiver behind a slow sender catches up
    after every skb: one wake-up each, each one ``wakeup_remote`` of latency that delays
    the delivery but not the sender."""
    slow_receiver = {**SPLIT, "cpu.split_rx_paged_skb": "200us"}
    r, events = run("sendfile_sg", slow_receiver, size="1MiB")
    assert r.receiver_wakeups == 1
    assert [e.nbytes for e in events if e.kind is Kind.DELIVER][-1] == 30774
    held = [e.what for e in events if e.kind is Kind.HOLD and e.nbytes == 30774]
    assert held == [events_mod.HOLD_NAGLE]
    fast = {**SPLIT, "cpu.split_tx_paged_skb": "200us", "cpu.split_rx_paged_skb": "1us"}
    for wakeup in ("1ns", "50us"):
        r, events = run("sendfile_sg", {**fast, "cpu.wakeup_remote": wakeup}, size="1MiB")
        assert r.receiver_wakeups == delivered_skbs(events) > 16
    # 32 KiB is two skbs, 32741 + 27 B (the MSS is half the SYN-ACK's one-MSS window,
    # tcp_bound_to_half_wnd), each finding the receiver caught up; the first is ACKed as it
    # is queued (quick-ACK mode), before the reader wakes, so the tail Nagle held goes then
    # and only the last wake-up delays the end: 50 us later; the sender's work is the same
    quick, _ = run("sendfile_sg", {**fast, "cpu.wakeup_remote": "1ns"}, size="32KiB")
    late, _ = run("sendfile_sg", {**fast, "cpu.wakeup_remote": "50us"}, size="32KiB")
    assert quick.receiver_wakeups == late.receiver_wakeups == 2
    assert late.sim_time_s - quick.sim_time_s == pytest.approx(50e-6 - 1e-9)
    assert late.cpu_time_s == pytest.approx(quick.cpu_time_s)


ONE_CORE = {"nic.loopback": True, "cpu.cores": 1, "kernel.model": "linux-6",
            "nic.mtu": "64KiB", "cpu.per_skb": "2us", "cpu.context_switch": "3us"}
MSS = 65535 - 40 - 12  # the largest IPv4 packet (lo's MTU is 64 KiB) less the headers


def test_a_heavy_receiver_on_the_senders_core_waits_and_the_tails_merge():
    """A receiver costlier than its sender (40 us per skb against the sender's few) never
    catches up: it runs when the sender sleeps, so no ACK comes between two splice calls,
    and each call's sub-MSS tail waits (SPLICE_F_MORE) for the next call's pages: the
    stream goes as skbs of the current MSS, ceil(size / MSS) of them, instead of two per
    call, but for one more each time the sender sleeps (its send buffer full) with a tail
    held: the ACKs that come while it sleeps find nothing in flight, and Nagle lets the
    tail go alone (``tcp_data_snd_check`` -> ``tcp_nagle_check``). The MSS is half the
    largest receive window offered so far (``tcp_bound_to_half_wnd``; the SYN-ACK's is one
    full MSS), so it grows with the window until the window stops growing: for this slow
    reader at 53248 B, below lo's full MSS, and the skbs before are smaller. The receiver
    is woken by the first skbs, which the small first windows let through a few at a time,
    and again only when it caught up while the sender slept: rarely."""
    size = 4 << 20
    r, events = run("splice", {**ONE_CORE, "cpu.rx_skb": "40us"}, size="4MiB")
    sizes = [e.nbytes for e in events if e.kind is Kind.DELIVER]
    mss_now = max(sizes)  # half the largest window this slow reader's buffer reached
    skbs, least = delivered_skbs(events), -(-size // mss_now)
    startup = sizes.index(mss_now)  # the skbs before the window stopped growing
    assert mss_now <= MSS and all(n < mss_now for n in sizes[:startup])
    assert r.context_switches > 0  # the sender slept: its send buffer was full
    # every other skb beyond the least is a tail an ACK let go alone while the sender slept
    assert least <= skbs <= least + startup + r.context_switches + r.receiver_wakeups
    assert skbs - startup < 1.1 * least and r.receiver_wakeups < 3 + skbs / 10


def test_a_light_receiver_preempts_at_each_skb_and_pays_the_switch():
    """A receiver cheaper than its sender has had less of the core whenever an skb wakes
    it, so it preempts: it takes each send()'s first skb as it comes (the 53 B tail beyond
    the MSS arrives while it runs, and its ACK lets that tail go at once: two skbs per
    call, once the receive window has grown. The first four calls go as six skbs: two of
    32741 B (the MSS is half the SYN-ACK's one-MSS window, ``tcp_bound_to_half_wnd``), two
    of 47616 B (half the 95232 B window the first skb's rcv_ssthresh growth opened), one
    full MSS and the 35947 B rest, held by the window until the reader caught up)
    and sleeps again before the next call, one wake-up per call, each costing the
    switch (cpu.context_switch). The first skb finds it asleep, not owning its socket, so
    the sender's softirq does that skb's TCP input (cpu.rx_input, the sender's ``net``
    time) and the receiver the rest of rx_skb; the tail finds it running and waits in the
    backlog, whole rx_skb the receiver's. Its copy is at the teaching profile's DRAM speed
    (its cache is 1 byte)."""
    rx_s, input_s, per_skb_s, switch_s = 4e-6, 1.5e-6, 2e-6, 3e-6
    r, events = run("read_write", {**ONE_CORE, "cpu.rx_skb": "4us", "cpu.rx_input": "1.5us"},
                    size="1MiB")
    calls = r.bytes_requested // (64 << 10)
    skbs = delivered_skbs(events)
    assert skbs == 6 + 2 * (calls - 4) and r.receiver_wakeups == calls
    sizes = [e.nbytes for e in events if e.kind is Kind.DELIVER]
    assert sizes[:6] == [32741, 32741, 47616, 47616, MSS, 35947]
    copy_s = r.bytes_requested / load_profile("teaching").cpu.copy_bandwidth_bytes_per_s
    assert r.cpu_time_by_category["receive"] == pytest.approx(
        skbs * rx_s - calls * input_s + calls * switch_s + copy_s)
    assert r.cpu_time_by_category["net"] == pytest.approx(skbs * per_skb_s + calls * input_s)


def test_a_tail_skb_pays_the_fixed_share_and_its_bytes():
    """cpu.tail_skb: on one core an skb pays tail_skb / (per_skb + rx_skb) of those two
    whatever its size and the rest by its bytes, 64 KiB paying it all (what calibrate
    measures: a paused 64 KiB send() costs its MSS-sized twin plus one such tail). By hand,
    per_skb 2 us + rx_skb 4 us = 6 us and tail_skb 1.5 us, so the share is 1/4: the 52 B
    tail beyond the MSS costs 6 x (1/4 + 3/4 x 52 / 65536) = 1.5036 us, the full skb
    6 x (1/4 + 3/4 x 65484 / 65536) = 5.9964 us, the call 7.5 us where every skb alike
    makes it 12. The TCP input part moves between the sender's softirq (``net``) and the
    receiver, so the two categories are checked together; the switches and the copy are
    the calls' as without the key. The same run without it costs each skb 6 us."""
    base = {**ONE_CORE, "cpu.rx_skb": "4us", "cpu.rx_input": "1.5us"}
    copy_s = (1 << 20) / load_profile("teaching").cpu.copy_bandwidth_bytes_per_s
    for overrides, share in (({**base, "cpu.tail_skb": "1.5us"}, 0.25), (base, 1.0)):
        r, events = run("read_write", overrides, size="1MiB")
        sizes = [e.nbytes for e in events if e.kind is Kind.DELIVER]
        assert sizes.count(MSS) > 8 and sizes.count((64 << 10) - MSS) > 8  # full + tail
        work_s = sum(6e-6 * (share + (1 - share) * n / (64 << 10)) for n in sizes)
        cpu = r.cpu_time_by_category
        assert cpu["net"] + cpu["receive"] == pytest.approx(
            work_s + r.receiver_wakeups * 3e-6 + copy_s)


def test_a_tail_skb_cost_is_checked_and_defaults_to_a_full_skbs():
    """Without the key every skb costs alike (per_skb + rx_skb, whatever an override makes
    them); more than that is refused, naming the key."""
    p = load_profile("teaching")
    assert p.cpu.tail_skb_s == p.cpu.per_skb_s + p.cpu.rx_skb_s
    assert load_profile("teaching", {"cpu.per_skb": "5us"}).cpu.tail_skb_s == pytest.approx(
        5e-6 + p.cpu.rx_skb_s)
    with pytest.raises(ConfigError, match=r"cpu\.tail_skb.*at most cpu\.per_skb"):
        load_profile("teaching", {"cpu.tail_skb": "1ms"})


@pytest.mark.parametrize("path", ["msg_zerocopy", "sendfile_sg", "mmap_write"])
def test_the_receiver_runs_whenever_the_sender_sleeps(path):
    """However heavy the receiver, a sender that waits (for ACKs, completions, send-buffer
    room) or ends hands it the core: every run finishes with every byte delivered."""
    r, _ = run(path, {**ONE_CORE, "cpu.rx_skb": "200us"}, size="1MiB")
    assert r.bytes_delivered == r.bytes_requested


def test_only_linux_6_shares_the_core_and_only_on_one_core():
    """The shared core is EEVDF's (Linux 6.6+); the textbook kernel's receiver, and one on
    a host of two cores or more, takes each skb as it is ready."""
    from iosim.machine import Machine
    from iosim.simulate import prepare

    def core(overrides):
        prof, sc = prepare("splice", "1MiB", profile="teaching", overrides=overrides)
        return Machine(prof, sc).nic.core

    assert core(ONE_CORE) is not None
    assert core({**ONE_CORE, "kernel.model": "textbook"}) is None
    assert core({**ONE_CORE, "cpu.cores": 2}) is None


@given(path=st.sampled_from(sorted(iosim.PATHS)), size=s.sizes, buffer=s.buffer_sizes,
       cache=s.caches, kernel=st.sampled_from(["linux-6", "textbook"]),
       placement=st.sampled_from(["one core", "split", "floating"]),
       rx=st.sampled_from(["1us", "10us", "200us"]),
       rx_input=st.sampled_from(["1ns", "3us", "1ms"]), seed=st.integers(0, 2))
@settings(max_examples=40, deadline=None)
def test_every_placement_delivers_every_byte_once_and_frees_everything(
        path, size, buffer, cache, kernel, placement, rx, rx_input, seed):
    """Whatever the receiver costs and wherever it runs (sharing the sender's one core,
    on its own core, or floating over two), the run ends with every byte delivered once,
    every page reference and skb released, no more wake-ups than deliveries, and the same
    inputs give the same result."""
    overrides = {"nic.loopback": True, "kernel.model": kernel, "cpu.rx_skb": rx,
                 "cpu.rx_input": rx_input, "cpu.split_rx_skb": rx,
                 "cpu.split_rx_paged_skb": rx,
                 **{"one core": {"cpu.cores": 1}, "floating": {"cpu.cores": 2},
                    "split": {"cpu.cores": 2, "nic.loopback_split": True}}[placement]}
    a = iosim.simulate(path, size, cache=cache, buffer_bytes=buffer, overrides=overrides,
                       seed=seed)
    assert a.invariant_violations == []
    assert a.bytes_delivered == a.bytes_requested == size
    # a wake-up per delivery at most; a delivery carries a full MSS, or ends a call's data
    # (one per buffer) or a kTLS record (16 KiB, whose 22 B of framing may spill over)
    mss_bytes = net.mss_bytes(load_profile("teaching").nic.mtu_bytes)
    assert a.receiver_wakeups <= (-(-size // mss_bytes) + -(-size // buffer)
                                  + -(-size // 16384) + 1)
    b = iosim.simulate(path, size, cache=cache, buffer_bytes=buffer, overrides=overrides,
                       seed=seed)
    assert a.to_json() == b.to_json()


def test_the_senders_softirq_counts_toward_its_share_unless_irq_time_is_accounted():
    """Without CONFIG_IRQ_TIME_ACCOUNTING the TCP input the sender's softirq does for a
    sleeping receiver is the sender's runtime (kernel/sched/fair.c:update_curr on
    rq_clock_task), so it makes the sender look heavier and the receiver preempt sooner;
    with it, that time is nobody's. A light receiver is woken per call either way; a
    receiver whose own work is just below the sender's is pushed over the line only when
    the softirq counts."""
    light = {**ONE_CORE, "cpu.rx_skb": "1us", "cpu.rx_input": "1ns"}
    for accounted in (False, True):
        r, _ = run("read_write", {**light, "kernel.irq_time_accounting": accounted},
                   size="1MiB")
        assert r.receiver_wakeups == r.bytes_requested // (64 << 10)
    near = {**ONE_CORE, "cpu.rx_skb": "80us", "cpu.rx_input": "70us"}
    charged, _ = run("read_write", {**near, "kernel.irq_time_accounting": False},
                     size="1MiB")
    apart, _ = run("read_write", {**near, "kernel.irq_time_accounting": True}, size="1MiB")
    assert charged.receiver_wakeups > apart.receiver_wakeups
