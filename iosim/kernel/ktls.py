"""kTLS: sendfile() on a socket with the TLS upper-layer protocol (``net/tls``).

Software kTLS (``net/tls/tls_sw.c``): splice_to_socket hands the page-cache pages to
``tls_sw_sendmsg`` (MSG_SPLICE_PAGES), which adds them by reference to the open record's
plaintext (``tls_sw_sendmsg_splice``) until it holds TLS_MAX_PAYLOAD_SIZE (16 KiB); then
``tls_push_record`` encrypts it (``crypto_aead_encrypt``, AES-GCM) from those pages into
new pages of the record's encrypted message, which carry the 5-byte record header and the
tag, and those go to TCP as frags. The encryption reads every byte and writes it again: a
CPU pass costed at ``cpu.aes_gcm_bandwidth`` and counted as a copy, two bytes of memory
traffic per byte. A partial record waits for more (MSG_MORE, every sendfile round but the
last) and is pushed at the end of the call (``tls_sw_splice_eof``).

Offload (``nic.tls_offload``, ``net/tls/tls_device.c:tls_push_data``): the record holds the
page-cache pages themselves between a header and the space for the tag, which the NIC
fills as it encrypts at transmit: zero-copy again. Without TLS_TX_ZEROCOPY_RO the kernel
would copy the file data first (the NIC re-reads it for a retransmission, so it must not
change); this program sets it, and promises not to change the file (a writer that does
reaches the wire, as with sendfile).

Records are TLS 1.3 (``TLS_1_3_VERSION``, AES-GCM-128): 5 B header + 16 B tag + 1 B inner
content type = 22 B per record on the stream besides the file's bytes.
"""

from __future__ import annotations

from iosim import events
from iosim.kernel.page import KERNEL
from iosim.kernel.pagecache import File, PageCache
from iosim.kernel.pipe import Pipe, PipeBuffer
from iosim.kernel.process import Task
from iosim.kernel.socket import TcpSocket, take_pieces
from iosim.kernel.syscalls import MAX_RW_COUNT, PIPE_DEF_BUFFERS, splice_to_pipe

TLS_RECORD_BYTES = 16384  # TLS_MAX_PAYLOAD_SIZE: plaintext per record
TLS_HEADER_BYTES = 5  # TLS_HEADER_SIZE: content type, version, length
TLS_TRAILER_BYTES = 17  # TLS 1.3: the inner content type (1 B) and the AES-GCM tag (16 B)
TLS_OVERHEAD_BYTES = TLS_HEADER_BYTES + TLS_TRAILER_BYTES


def records(nbytes: int) -> int:
    """Records one sendfile() of ``nbytes`` makes: full ones, then the partial tail."""
    return -(-nbytes // TLS_RECORD_BYTES)


def stream_overhead_bytes(size_bytes: int) -> int:
    """Framing bytes the stream carries besides ``size_bytes`` sent by sendfile() calls of
    at most MAX_RW_COUNT bytes each (each call ends with its partial record)."""
    calls, last = divmod(size_bytes, MAX_RW_COUNT)
    return TLS_OVERHEAD_BYTES * (calls * records(MAX_RW_COUNT) + records(last))


class TlsTx:
    """The TX side of a kTLS socket: the open record and how records are built."""

    def __init__(self, task: Task, sock: TcpSocket, offload: bool, aes_bytes_per_s: float,
                 page_bytes: int) -> None:
        self.task = task
        self.sock = sock
        self.offload = offload
        self.aes_bytes_per_s = aes_bytes_per_s
        self.page_bytes = page_bytes
        self.open: list[PipeBuffer] = []  # plaintext pieces
        self.open_bytes = 0

    def add(self, buffers: list[PipeBuffer], more: bool):
        """tls_sw_sendmsg_splice / tls_push_data: the pipe's pages into records; every full
        record is pushed, a partial one waits unless ``more`` is False."""
        todo = list(buffers)
        i = 0
        while i < len(todo):
            batch, n, i = take_pieces(todo, i, TLS_RECORD_BYTES - self.open_bytes, len(todo))
            self.task.pages.get_frags(batch, "tls")
            self.open += batch
            self.open_bytes += n
            if self.open_bytes == TLS_RECORD_BYTES:
                yield from self._push(more=i < len(todo) or more)
        if not more and self.open_bytes:
            yield from self._push(more=False)  # tls_sw_splice_eof

    def _push(self, more: bool):
        """tls_push_record (software: encrypt into new pages) or the device's record."""
        task, pb = self.task, self.page_bytes
        plain, n = self.open, self.open_bytes
        self.open, self.open_bytes = [], 0
        if self.offload:
            frame = task.pages.new(KERNEL)  # header and tag space (the socket's page frag)
            pieces = [PipeBuffer(frame, 0, TLS_HEADER_BYTES, 0), *plain,
                      PipeBuffer(frame, TLS_HEADER_BYTES, TLS_TRAILER_BYTES, 0)]
            out = [frame]
        else:
            file = plain[0].page.file
            task.copy(n, events.PAGE_CACHE, events.SOCKET_BUFFER,
                      file.size_bytes if file is not None else None,
                      note="AES-GCM encryption (tls_sw)",
                      bandwidth_bytes_per_s=self.aes_bytes_per_s)
            total = TLS_HEADER_BYTES + n + TLS_TRAILER_BYTES
            out = [task.pages.new(KERNEL, index=k) for k in range(-(-total // pb))]
            pieces = [PipeBuffer(page, 0, min(pb, total - k * pb), 0)
                      for k, page in enumerate(out)]
        yield from self.sock.send_pages(task, pieces, more)
        task.pages.put(out, "alloc")  # the skbs hold them now
        task.pages.put_frags(plain, "tls")  # software: tls_free_rec after the push


def sendfile(task: Task, cache: PageCache, file: File, pos: int, sock: TcpSocket,
             nbytes: int, tls: TlsTx):
    """sendfile() on a kTLS socket: the 16-buffer internal pipe's rounds, each into
    records (``fs/splice.c:splice_direct_to_actor`` -> ``splice_to_socket``)."""
    t0 = task.syscall("sendfile")
    nbytes = min(nbytes, MAX_RW_COUNT, file.size_bytes - pos)
    internal = Pipe(PIPE_DEF_BUFFERS * file.page_bytes, file.page_bytes)
    done = 0
    while done < nbytes:
        n = yield from splice_to_pipe(task, cache, file, pos + done, nbytes - done, internal)
        buffers = list(internal.buffers)
        internal.buffers.clear()
        yield from tls.add(buffers, done + n < nbytes)
        task.charge(len(buffers) * task.spec.pipe_op_s, "pipe")
        task.pages.put_frags(buffers, "pipe")
        done += n
    yield from task.sync()
    task.leave("sendfile", t0, done, events.FILE, events.SOCKET,
               "kTLS offload" if tls.offload else "kTLS", tls="device" if tls.offload else "sw")
    return done
