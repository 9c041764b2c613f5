#!/usr/bin/env python3
"""TCP endpoints for meshcap's traffic tests, run inside the tests' own network namespaces.

  probe.py serve PORT NAME     accept forever; answer each connection with
                               "NAME ORIGINAL-DESTINATION" (SO_ORIGINAL_DST after a REDIRECT,
                               else the address the client dialled) and close it
  probe.py connect HOST PORT [UID]
                               connect (as UID if given), print the answer; exit 1 on failure
  probe.py serve-udp PORT NAME answer each datagram with "NAME"
  probe.py serve-transparent PORT NAME
                               like serve, on IP_TRANSPARENT sockets (what TPROXY delivers to);
                               the destination is then the socket's own local address
  probe.py query HOST PORT [UID]
                               send one datagram (as UID if given), print the answer
  probe.py connect-from SOURCE HOST PORT
                               connect from the local address SOURCE, print the answer
  probe.py nflog GROUP SECONDS  print the prefix and addresses of each packet logged to
                               nfnetlink_log GROUP
  probe.py connect-each PORT HOST...
                               connect to each HOST in turn; print one line per HOST, the answer
                               or "failed"
  probe.py connect-each-port HOST PORT...
                               the same, to each PORT of one HOST
  probe.py connect-until HOST PORT MIN STOPFILE
                               connect again and again, at least MIN times and until STOPFILE
                               exists; print how many answers came from each server name, and
                               how many connections failed ("peer=0 proxy-outbound=5123 failed=0")
  probe.py serve-dns NAME=ADDRESS...
                               a DNS server on UDP port 53: A or AAAA answers for the NAMEs
                               given (by ADDRESS's family; NOERROR without records for the
                               other one), NXDOMAIN for every other name
  probe.py churn TABLE CHAIN SECONDS
                               insert a rule at the head of inet TABLE CHAIN and delete it again,
                               over and over, for at most SECONDS
HOST may be IPv4 or IPv6; servers listen on both families.
Every connect gives up after 3 seconds, so a broken rule fails a test instead of hanging it,
and a server exits by itself after 120 seconds even if nobody stops it.
"""
import encodings.idna  # noqa: F401 -- loaded before setuid(), which may lose access to the library
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

SO_ORIGINAL_DST = 80  # also IP6T_SO_ORIGINAL_DST, on SOL_IPV6


def original_destination(conn):
    """Where the client was going: SO_ORIGINAL_DST after a REDIRECT, else the local address."""
    family = conn.family
    host, port = conn.getsockname()[:2]
    try:
        if family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, address = struct.unpack("!2xH4s8x", raw)
            return f"{socket.inet_ntoa(address)}:{port}"
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        port, address = struct.unpack("!2xH4x16s4x", raw)
        return f"[{socket.inet_ntop(socket.AF_INET6, address)}]:{port}"
    except OSError:
        return f"{host}:{port}" if family == socket.AF_INET else f"[{host}]:{port}"


IP_TRANSPARENT, IPV6_TRANSPARENT = 19, 75
IP_PKTINFO, IPV6_RECVPKTINFO, IPV6_PKTINFO = 8, 49, 50


def listeners(kind, port, transparent=False):
    """One socket per family, so each reports its own family's original destination."""
    sockets = []
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if transparent:
            if family == socket.AF_INET:
                sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(16)
        sockets.append(sock)
    return sockets


def unblock_and_bound_lifetime():
    # The test runner may spawn us with signals blocked; unblock them so we can be stopped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGALRM])
    signal.alarm(120)


def serve(port, name, transparent=False):
    unblock_and_bound_lifetime()
    sockets = listeners(socket.SOCK_STREAM, port, transparent)
    while True:
        for ready in select.select(sockets, [], [])[0]:
            conn, _ = ready.accept()
            with conn:
                conn.sendall(f"{name} {original_destination(conn)}\n".encode())


def serve_udp(port, name):
    """Answers from the address each datagram was sent to, as a DNS server does: a reply from
    another source is no reply to conntrack (a REDIRECT to 127.0.0.1 would see a new flow)."""
    unblock_and_bound_lifetime()
    sockets = listeners(socket.SOCK_DGRAM, port)
    for sock in sockets:
        if sock.family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    while True:
        for ready in select.select(sockets, [], [])[0]:
            _, ancillary, _, peer = ready.recvmsg(512, socket.CMSG_SPACE(64))
            source = []
            for level, kind, data in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    # in_pktinfo: ifindex, spec_dst, addr; send from addr (the header's destination).
                    source = [(level, kind, struct.pack("=i4s4s", 0, data[8:12], b"\0" * 4))]
                elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
                    source = [(level, kind, data[:16] + struct.pack("=i", 0))]
            ready.sendmsg([name.encode()], source, 0, peer)


def serve_dns(records):
    """A stub authority for doctor's name checks: answers from `records` ({name: [address]})."""
    unblock_and_bound_lifetime()
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("0.0.0.0", 53))
    while True:
        query, peer = server.recvfrom(512)
        ident, _flags, _qd = struct.unpack("!HHH", query[:6])
        labels, at = [], 12
        while query[at]:
            labels.append(query[at + 1:at + 1 + query[at]].decode().lower())
            at += 1 + query[at]
        qtype = struct.unpack("!H", query[at + 1:at + 3])[0]
        question = query[12:at + 5]
        name = ".".join(labels)
        family = socket.AF_INET if qtype == 1 else socket.AF_INET6
        answers = [a for a in records.get(name, []) if (":" in a) == (family == socket.AF_INET6)]
        rcode = 0 if name in records else 3
        reply = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(answers), 0, 0) + question
        for address in answers:
            data = socket.inet_pton(family, address)
            # The name as a pointer to the question's (offset 12), as servers compress it.
            reply += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(data)) + data
        server.sendto(reply, peer)


def become(uid):
    # Before socket(): the kernel records the socket's owner when it is made, and that owner is
    # what the proxy-UID rules match.
    if uid is not None:
        os.setgid(uid)
        os.setuid(uid)


def connect(host, port, uid=None):
    become(uid)
    with socket.create_connection((host, port), timeout=3) as conn:
        print(conn.recv(256).decode().strip())


def connect_from(source, host, port):
    """Connects from a chosen local address (one of several on the interface)."""
    with socket.create_connection((host, port), timeout=3, source_address=(source, 0)) as conn:
        print(conn.recv(256).decode().strip())


def packet_summary(packet):
    """"tcp 198.51.100.2:40000 > 198.51.100.1:8080" for an IPv4 or IPv6 packet."""
    if packet[0] >> 4 == 4:
        proto, header = packet[9], (packet[0] & 15) * 4
        source, destination = socket.inet_ntop(socket.AF_INET, packet[12:16]), socket.inet_ntop(socket.AF_INET, packet[16:20])
    else:
        proto, header = packet[6], 40
        source, destination = socket.inet_ntop(socket.AF_INET6, packet[8:24]), socket.inet_ntop(socket.AF_INET6, packet[24:40])
    name = {6: "tcp", 17: "udp"}.get(proto, str(proto))
    ports = struct.unpack("!HH", packet[header:header + 4]) if len(packet) >= header + 4 else ("?", "?")
    return f"{name} {source}:{ports[0]} > {destination}:{ports[1]}"


def nflog(group, seconds):
    """Binds to an nfnetlink_log group and prints, for every packet logged to it within SECONDS,
    a line: its prefix, a tab, and the packet (a rule's `log group N` / NFLOG)."""
    NETLINK_NETFILTER, SUBSYS_ULOG, MSG_PACKET, MSG_CONFIG = 12, 4, 0, 1
    CFG_CMD, CMD_BIND, ATTR_PAYLOAD, ATTR_PREFIX = 1, 1, 9, 10
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    # nlmsghdr, nfgenmsg (family, version, group in network order), NFULA_CFG_CMD { BIND }.
    attribute = struct.pack("=HHB3x", 5, CFG_CMD, CMD_BIND)
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(group)) + attribute
    header = struct.pack("=IHHII", 16 + len(body), SUBSYS_ULOG << 8 | MSG_CONFIG, 1 | 4, 1, 0)
    sock.send(header + body)
    length, kind, _, _, _ = struct.unpack("=IHHII", sock.recv(65536)[:16])
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            continue
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack("=IH", data[offset:offset + 6])
            if kind == SUBSYS_ULOG << 8 | MSG_PACKET:
                position = offset + 20
                prefix, packet = "", b""
                while position + 4 <= offset + length:
                    size, attribute = struct.unpack("=HH", data[position:position + 4])
                    if attribute & 0x7fff == ATTR_PREFIX:
                        prefix = data[position + 4:position + size].rstrip(b"\0").decode()
                    elif attribute & 0x7fff == ATTR_PAYLOAD:
                        packet = data[position + 4:position + size]
                    position += (size + 3) & ~3
                print(f"{prefix}\t{packet_summary(packet) if packet else ''}", flush=True)
            offset += (length + 3) & ~3


def connect_each(targets):
    for host, port in targets:
        try:
            with socket.create_connection((host, port), timeout=3) as conn:
                print(conn.recv(256).decode().strip(), flush=True)
        except OSError:
            print("failed", flush=True)


def query(host, port, uid=None):
    become(uid)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"query", (host, port))
        print(sock.recvfrom(512)[0].decode())


def connect_until(host, port, minimum, stopfile):
    counts = {}
    done = 0
    deadline = time.monotonic() + 110
    while (done < minimum or not os.path.exists(stopfile)) and time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=3) as conn:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                name = conn.recv(256).decode().split(" ", 1)[0] or "empty"
        except OSError:
            name = "failed"
        counts[name] = counts.get(name, 0) + 1
        done += 1
    print(" ".join(f"{name}={count}" for name, count in sorted(counts.items())))


def churn(table, chain, seconds):
    unblock_and_bound_lifetime()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        added = subprocess.run(["nft", "--echo", "--handle", "insert", "rule", "inet", table, chain, "counter"],
                               capture_output=True, text=True, check=True).stdout
        handle = added.rsplit("# handle ", 1)[1].split()[0]
        subprocess.run(["nft", "delete", "rule", "inet", table, chain, "handle", handle], check=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
    elif sys.argv[1] == "nflog":
        nflog(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1] == "connect-from":
        connect_from(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "serve-transparent":
        serve(int(sys.argv[2]), sys.argv[3], transparent=True)
    elif sys.argv[1] == "connect-each":
        connect_each([(host, int(sys.argv[2])) for host in sys.argv[3:]])
    elif sys.argv[1] == "connect-each-port":
        connect_each([(sys.argv[2], int(port)) for port in sys.argv[3:]])
    elif sys.argv[1] == "connect-until":
        connect_until(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "churn":
        churn(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif sys.argv[1] == "serve-udp":
        serve_udp(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "serve-dns":
        table = {}
        for pair in sys.argv[2:]:
            name, address = pair.split("=", 1)
            table.setdefault(name.lower(), []).append(address)
        serve_dns(table)
    elif sys.argv[1] == "query":
        query(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        sys.exit(__doc__)
