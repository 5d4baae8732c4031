"""sk_buff: a linear area that owns copied bytes plus up to MAX_SKB_FRAGS page frags.

Copied bytes are recorded as runs of (reference version, bytes): the version the data had
when the application handed it over. A frag is a page reference plus the version the page
had when the frag was attached; the NIC reads the page's version *at DMA time*, which is how
an in-place writer can change what goes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iosim.kernel.page import Page


def add_run(runs: list[list[int]], version: int, nbytes: int) -> None:
    """Append ``nbytes`` of ``version`` to run-length ``runs``, merging with the last run."""
    if runs and runs[-1][0] == version:
        runs[-1][1] += nbytes
    else:
        runs.append([version, nbytes])


def slice_runs(runs: list[list[int]], start: int, nbytes: int) -> list[list[int]]:
    """The runs covering bytes ``start .. start+nbytes-1`` of ``runs``."""
    out: list[list[int]] = []
    pos = 0
    end = start + nbytes
    for version, n in runs:
        top = pos + n
        lo = pos if pos > start else start
        hi = top if top < end else end
        if lo < hi:
            add_run(out, version, hi - lo)
        pos = top
        if pos >= end:
            break
    return out


def slice_lengths(lengths: list[int], start: int, nbytes: int) -> list[int]:
    """The pieces of consecutive ``lengths`` that cover bytes ``start .. start+nbytes-1``."""
    out = []
    pos = 0
    end = start + nbytes
    for n in lengths:
        lo, hi = max(pos, start), min(pos + n, end)
        if lo < hi:
            out.append(hi - lo)
        pos += n
        if pos >= end:
            break
    return out


class Runs:
    """Copy source over fixed runs (``runs(start, n)`` like user buffers and mappings)."""

    def __init__(self, runs: list[list[int]], label: str, working_set_bytes: int | None = None
                 ) -> None:
        self._runs = runs
        self.label = label
        self.working_set_bytes = working_set_bytes  # of the data the runs come from

    def copy_runs(self, start: int, nbytes: int):
        """Versions of bytes ``start .. start+nbytes-1`` (generator, like user memory's;
        kernel pages never fault)."""
        yield from ()
        return slice_runs(self._runs, start, nbytes)


@dataclass(slots=True)
class Frag:
    """A page frag: the skb holds one reference on ``page`` for it. The same piece is a pipe
    buffer (``pipe.PipeBuffer``): both are a ``struct bio_vec`` {page, offset, len} in
    Linux 6 (``skb_frag_t``). Never changed once handed on, so skbs, their clones and
    the pipe share the objects."""

    page: Page
    offset: int
    len: int
    version: int



def whole_pages(pages: list[Page], page_bytes: int) -> list[Frag]:
    """A frag (or pipe buffer) for each whole page of ``pages``, at its current version:
    what ``Frag(page, 0, page_bytes, page.version)`` makes, without a constructor call per
    page."""
    out = []
    new = Frag.__new__
    for page in pages:
        frag = new(Frag)
        frag.page = page
        frag.offset = 0
        frag.len = page_bytes
        frag.version = page.version
        out.append(frag)
    return out


@dataclass(eq=False, slots=True)
class SkBuff:
    """One TCP sk_buff (a TSO super-segment on the write/retransmit queue)."""

    seq: int
    len: int = 0
    linear: list[list[int]] = field(default_factory=list)  # runs [version, bytes], copied
    linear_len: int = 0
    frags: list[Frag] = field(default_factory=list)
    dataref: int = 1  # the original on the queue; each transmitted clone adds one
    zc_id: int | None = None  # MSG_ZEROCOPY notification id this skb carries
    first_segment: int = 0  # number of its first TSO segment on the wire (1-based)
    parent: SkBuff | None = None  # set on a view (a piece or a retransmission): whose data
    retransmit: bool = False  # a retransmission: its segments carry no original numbers
    xmit_id: int = 0  # order of this transmission among all the socket's transmissions
    frag_src: str = ""  # where the frags' pages live (page cache or user buffer)
    frag_working_set_bytes: int | None = None  # size of what those pages belong to
    # Linux 6.x only: the copied bytes sit in the socket's page-frag pages, one SG entry per
    # chunk (lengths in byte order); truesize is what the skb charges to the send buffer
    chunks: list[int] | None = None
    truesize: int = 0
    host_truesize: int = 0  # charged to sk_wmem_alloc while this clone is in qdisc/driver
    sent_s: float = 0.0  # when this transmission leaves (its EDT)
    sk: Any = None  # skb->sk: the socket that owns it (a host's NIC hands completions back)

    def add_linear(self, runs: list[list[int]], nbytes: int) -> None:
        """Account ``nbytes`` of copied data whose versions are ``runs``."""
        linear = self.linear
        for version, n in runs:  # add_run, inline
            if linear and linear[-1][0] == version:
                linear[-1][1] += n
            else:
                linear.append([version, n])
        self.linear_len += nbytes
        self.len += nbytes

    def view(self, seq: int, nbytes: int) -> SkBuff:
        """A clone of bytes ``seq .. seq+nbytes-1`` sharing this skb's data (a piece cut at
        the congestion window, tso_fragment, or a retransmission).

        Frags keep the versions they had when attached, so the NIC can tell what changed.
        """
        v = SkBuff(seq=seq, len=nbytes, zc_id=self.zc_id, parent=self, frag_src=self.frag_src,
                   frag_working_set_bytes=self.frag_working_set_bytes, sk=self.sk)
        start = seq - self.seq
        end = start + nbytes
        if self.linear_len and start < self.linear_len:
            n = min(end, self.linear_len) - start
            v.linear = slice_runs(self.linear, start, n)
            v.linear_len = n
            if self.chunks is not None:
                v.chunks = slice_lengths(self.chunks, start, n)
        pos = self.linear_len
        frags = v.frags
        for f in self.frags:  # conditionals, not max()/min(): the same values, fewer calls
            if pos >= end:
                break
            fend = pos + f.len
            if fend > start:
                if start <= pos < fend <= end:  # wholly inside: a Frag is never changed
                    frags.append(f)
                else:
                    lo = pos if pos > start else start
                    hi = fend if fend < end else end
                    if lo < hi:
                        frags.append(Frag(f.page, f.offset + lo - pos, hi - lo, f.version))
            pos = fend
        return v

    def split(self, nbytes: int) -> tuple[SkBuff, Page | None]:
        """tso_fragment (``net/ipv4/tcp_output.c``): keep the first ``nbytes`` here and return
        the rest as a new skb, with the page of a frag cut in two (the rest takes a reference
        on it, as ``skb_split`` does), or None."""
        rest = SkBuff(seq=self.seq + nbytes, len=self.len - nbytes, zc_id=self.zc_id,
                      frag_src=self.frag_src,
                      frag_working_set_bytes=self.frag_working_set_bytes, sk=self.sk)
        cut = None
        if nbytes < self.linear_len:
            n_rest = self.linear_len - nbytes
            if len(self.linear) == 1:  # one version: the common case, no slicing
                version = self.linear[0][0]
                rest.linear, self.linear = [[version, n_rest]], [[version, nbytes]]
            else:
                rest.linear = slice_runs(self.linear, nbytes, n_rest)
                self.linear = slice_runs(self.linear, 0, nbytes)
            rest.linear_len = n_rest
            self.linear_len = nbytes
            if self.chunks is not None:
                rest.chunks = slice_lengths(self.chunks, nbytes, n_rest)
                self.chunks = slice_lengths(self.chunks, 0, nbytes)
            rest.frags, self.frags = self.frags, []
        else:
            rest.chunks = [] if self.chunks is not None else None
            pos = self.linear_len
            for i, f in enumerate(self.frags):
                if pos + f.len > nbytes:
                    if pos < nbytes:  # the cut falls inside this frag
                        head = nbytes - pos
                        rest.frags = [Frag(f.page, f.offset + head, f.len - head, f.version),
                                      *self.frags[i + 1:]]
                        self.frags = [*self.frags[:i], Frag(f.page, f.offset, head, f.version)]
                        cut = f.page
                    else:
                        rest.frags, self.frags = self.frags[i:], self.frags[:i]
                    break
                pos += f.len
        self.len = nbytes
        return rest, cut

    def pieces(self) -> list[tuple[int, int, int]]:
        """(reference version, version the NIC reads now, bytes) in byte order."""
        out = [(v, v, n) for v, n in self.linear]
        out.extend((f.version, f.page.version, f.len) for f in self.frags)
        return out
