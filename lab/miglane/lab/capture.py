"""Capture the TCP payload a lab host sends on one of its NICs (a raw AF_PACKET socket).

    python -I -S capture.py NIC OUT_FILE PORT_MIN PORT_MAX LIMIT_BYTES

Run inside the host's network namespace (`Lab.run_in_host`): writes to OUT_FILE the payload of
every outgoing IPv4 TCP segment whose destination port is in [PORT_MIN, PORT_MAX], until
LIMIT_BYTES are written or SIGTERM. Prints "capturing" once the socket is bound. Standard
library only, run by path, like nsexec: it proves what crosses the wire, whatever QEMU says.
Segments the kernel dropped under load are simply missing: the file is a sample of the stream.
"""

from __future__ import annotations

import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
ETHERNET_HEADER = 14
TCP = 6


def tcp_payload(frame: bytes, port_min: int, port_max: int) -> bytes:
    """The TCP payload of an Ethernet/IPv4 frame to a port in range, else b""."""
    if len(frame) < ETHERNET_HEADER + 20:
        return b""
    if struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return b""
    ip = frame[ETHERNET_HEADER:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != TCP or len(ip) < ihl + 20:
        return b""
    total = struct.unpack_from("!H", ip, 2)[0] or len(ip)  # 0 with TSO: the frame's length
    tcp = ip[ihl:total]
    port = struct.unpack_from("!H", tcp, 2)[0]
    if not port_min <= port <= port_max:
        return b""
    return bytes(tcp[(tcp[12] >> 4) * 4 :])


def main(argv: list[str]) -> int:
    nic, out_path = argv[0], argv[1]
    port_min, port_max, limit = int(argv[2]), int(argv[3]), int(argv[4])
    stop = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 2**20)
    sock.bind((nic, 0))
    sock.settimeout(0.2)
    print("capturing", flush=True)
    written = 0
    with open(out_path, "wb") as out:
        while not stop and written < limit:
            try:
                frame, address = sock.recvfrom(262144)
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            if address[2] != PACKET_OUTGOING:
                continue
            payload = tcp_payload(frame, port_min, port_max)
            if payload:
                out.write(payload[: limit - written])
                written += min(len(payload), limit - written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
