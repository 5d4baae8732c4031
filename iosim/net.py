"""Protocol constants of TCP/IPv4 over Ethernet, and what follows from them.

One place for the header sizes, so the NIC, the wire, the quiz and the docs agree on the
MSS and on what a segment costs on the link.
"""

TCPIP_HEADER_BYTES = 52  # IPv4 20 + TCP 20 + timestamps option 12
ETH_OVERHEAD_BYTES = 38  # Ethernet header 14 + FCS 4 + preamble 8 + inter-frame gap 12
SEGMENT_OVERHEAD_BYTES = TCPIP_HEADER_BYTES + ETH_OVERHEAD_BYTES  # per segment on the link


def mss_bytes(mtu_bytes: int) -> int:
    """TCP payload per segment: the MTU less the IPv4, TCP and timestamp-option headers."""
    return mtu_bytes - TCPIP_HEADER_BYTES


def wire_bytes(payload_bytes: int, segments: int) -> int:
    """Bytes a burst of ``segments`` segments carrying ``payload_bytes`` takes on the link."""
    return payload_bytes + segments * SEGMENT_OVERHEAD_BYTES
