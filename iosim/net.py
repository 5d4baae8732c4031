"""Protocol constants of TCP/IPv4 over Ethernet, and what follows from them.

One place for the header sizes, so the NIC, the wire, the quiz and the docs agree on the
MSS and on what a segment costs on the link.
"""

TCPIP_HEADER_BYTES = 52  # IPv4 20 + TCP 20 + timestamps option 12
ETH_OVERHEAD_BYTES = 38  # Ethernet header 14 + FCS 4 + preamble 8 + inter-frame gap 12
SEGMENT_OVERHEAD_BYTES = TCPIP_HEADER_BYTES + ETH_OVERHEAD_BYTES  # per segment on the link


IP_MAX_MTU_BYTES = 0xFFFF  # the largest IPv4 packet (its 16-bit total length)


def mss_bytes(mtu_bytes: int) -> int:
    """TCP payload per segment: the MTU less the IPv4, TCP and timestamp-option headers, an
    MTU past the largest IPv4 packet counting as that packet (``net/ipv4/route.c:ipv4_mtu``
    and ``ipv4_default_advmss`` cap it at IP_MAX_MTU): lo's 64 KiB MTU gives 65483 B, as a
    64 KiB send() there shows (65483 B go as one skb, 65484 B as two)."""
    return min(mtu_bytes, IP_MAX_MTU_BYTES) - TCPIP_HEADER_BYTES


def wire_bytes(payload_bytes: int, segments: int) -> int:
    """Bytes a burst of ``segments`` segments carrying ``payload_bytes`` takes on the link."""
    return payload_bytes + segments * SEGMENT_OVERHEAD_BYTES
