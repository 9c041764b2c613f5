#!/usr/bin/env python3
"""TCP endpoints for meshcap's traffic tests, run inside the tests' own network namespaces.

  probe.py serve PORT NAME     accept forever; answer each connection with
                               "NAME ORIGINAL-DESTINATION" (SO_ORIGINAL_DST after a REDIRECT,
                               else the address the client dialled) and close it
  probe.py connect HOST PORT [UID]
                               connect (as UID if given), print the answer; exit 1 on failure
Every connect gives up after 3 seconds, so a broken rule fails a test instead of hanging it,
and a server exits by itself after 120 seconds even if nobody stops it.
"""
import encodings.idna  # noqa: F401 -- loaded before setuid(), which may lose access to the library
import os
import signal
import socket
import struct
import sys

SO_ORIGINAL_DST = 80


def original_destination(conn):
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, address = struct.unpack("!2xH4s8x", raw)
        return f"{socket.inet_ntoa(address)}:{port}"
    except OSError:
        host, port = conn.getsockname()[:2]
        return f"{host}:{port}"


def serve(port, name):
    # The test runner may spawn us with signals blocked; unblock them so we can be stopped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGALRM])
    signal.alarm(120)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(f"{name} {original_destination(conn)}\n".encode())


def connect(host, port, uid=None):
    # Drop privileges before socket(): the kernel records the socket's owner when it is made,
    # and that owner is what the proxy-UID rules match.
    if uid is not None:
        os.setgid(uid)
        os.setuid(uid)
    with socket.create_connection((host, port), timeout=3) as conn:
        print(conn.recv(256).decode().strip())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        sys.exit(__doc__)
