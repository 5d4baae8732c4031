"""sendfile() on a kTLS socket: TLS records built in the kernel from page-cache pages.

Software kTLS encrypts each 16 KiB record from the page-cache pages into new pages
(``net/tls/tls_sw.c:tls_push_record``): one CPU pass per byte, at ``cpu.aes_gcm_bandwidth``,
counted as a copy, so cold it is 2 DMA + 1 CPU pass, like sendfile without
scatter-gather. With ``nic.tls_offload`` the NIC encrypts at transmit
(``net/tls/tls_device.c``) and the frags reference the page cache: 2 DMA, no CPU copy.
Each record adds 22 B (TLS 1.3 header, content type, tag) to the stream.
"""

from __future__ import annotations

from iosim.kernel import ktls, syscalls
from iosim.paths.registry import CONNECTION, PathSpec, SetUp, register


def open_tls(m, sc):
    """``setsockopt(TCP_ULP, "tls")`` (``net/tls/tls_main.c:tls_init``) and
    ``setsockopt(SOL_TLS, TLS_TX, key)`` (``do_tls_setsockopt_conf``): state of the socket
    (its ``tls_context``), so a server makes it once per connection (generator)."""
    yield from ()  # a generator, as every set-up is; these calls never sleep
    task, offload = m.task, m.profile.nic.tls_offload
    syscalls.setsockopt(task, None, "TCP_ULP")  # "tls": net/tls/tls_main.c:tls_init
    # the key: net/tls/tls_main.c:do_tls_setsockopt_conf -> tls_set_sw_offload, or
    # tls_set_device_offload when the NIC can
    syscalls.setsockopt(task, None, "TLS_TX")
    if offload:
        syscalls.setsockopt(task, None, "TLS_TX_ZEROCOPY_RO")  # the file will not change
    return ktls.TlsTx(task, m.socket, offload, m.profile.cpu.aes_gcm_bandwidth_bytes_per_s,
                      m.page_bytes)


TLS = SetUp("tls", CONNECTION, open_tls)  # closing the socket frees it (tls_sk_proto_close)


def program(m, sc):
    """``setsockopt(TCP_ULP, "tls"); setsockopt(TLS_TX, key); sendfile(sock, fd, ...)``"""
    m.stream_extra_bytes = ktls.stream_overhead_bytes(sc.size_bytes)
    tls = yield from m.set_up(TLS, sc)
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        pos += yield from ktls.sendfile(m.task, m.cache, m.file, pos, m.socket, end - pos, tls)
    m.release(TLS, tls)


SPEC = register(PathSpec(
    "ktls_sendfile", program,
    "sendfile() on a kTLS socket: AES-GCM per 16 KiB record by the CPU (or the NIC)",
    textbook_copies=(1, 2), color="#AA4499", setup=(TLS,),
    real_method="ktls_sendfile",  # skipped where the kernel has no "tls" ULP
    notes=("textbook: not in the textbook; sendfile's zero copy stops at TLS / kernel: "
           "software kTLS encrypts every 16 KiB record into new pages (net/tls/tls_sw.c:"
           "tls_push_record), a CPU pass per byte at cpu.aes_gcm_bandwidth",
           "nic.tls_offload = true: the record references the page cache and the NIC "
           "encrypts (net/tls/tls_device.c:tls_push_data), zero-copy again; the program sets "
           "TLS_TX_ZEROCOPY_RO, so a writer that changes the file reaches the wire",
           "each record adds 22 B on the stream (TLS 1.3: 5 B header, 1 B type, 16 B tag); "
           "both kernels build the same records, the socket below is each kernel's")))
