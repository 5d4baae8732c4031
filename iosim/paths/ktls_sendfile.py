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
from iosim.paths.registry import PathSpec, register


def program(m, sc):
    """``setsockopt(TCP_ULP, "tls"); setsockopt(TLS_TX, key); sendfile(sock, fd, ...)``"""
    task, sock = m.task, m.socket
    offload = m.profile.nic.tls_offload
    m.stream_extra_bytes = ktls.stream_overhead_bytes(sc.size_bytes)
    syscalls.setsockopt(task, None, "TCP_ULP")  # "tls": net/tls/tls_main.c:tls_init
    # the key: net/tls/tls_main.c:do_tls_setsockopt_conf -> tls_set_sw_offload, or
    # tls_set_device_offload when the NIC can
    syscalls.setsockopt(task, None, "TLS_TX")
    if offload:
        syscalls.setsockopt(task, None, "TLS_TX_ZEROCOPY_RO")  # the file will not change
    tls = ktls.TlsTx(task, sock, offload, m.profile.cpu.aes_gcm_bandwidth_bytes_per_s,
                     m.page_bytes)
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        pos += yield from ktls.sendfile(task, m.cache, m.file, pos, sock, end - pos, tls)


SPEC = register(PathSpec(
    "ktls_sendfile", program,
    "sendfile() on a kTLS socket: AES-GCM per 16 KiB record by the CPU (or the NIC)",
    textbook_copies=(1, 2), color="#AA4499",
    real_method="ktls_sendfile",  # skipped where the kernel has no "tls" ULP
    notes=("textbook: not in the textbook; sendfile's zero copy stops at TLS / kernel: "
           "software kTLS encrypts every 16 KiB record into new pages (net/tls/tls_sw.c:"
           "tls_push_record), a CPU pass per byte at cpu.aes_gcm_bandwidth",
           "nic.tls_offload = true: the record references the page cache and the NIC "
           "encrypts (net/tls/tls_device.c:tls_push_data), zero-copy again; the program sets "
           "TLS_TX_ZEROCOPY_RO, so a writer that changes the file reaches the wire",
           "each record adds 22 B on the stream (TLS 1.3: 5 B header, 1 B type, 16 B tag); "
           "both kernels build the same records, the socket below is each kernel's")))
