"""A stand-in for keywardd --spawner that is not one: it listens on a
SOCK_SEQPACKET socket where keywardd looks for its command spawner
(KEYWARD_SPAWNER_SOCKET), takes one connection and answers as MODE says.
test_spawner_unit.py runs it to see keywardd refuse it.

    impostor_spawner.py PATH MODE

Modes: silent (sends nothing), close (closes at once), hello (a
well-formed SPAWN_HELLO; the kernel attaches this program's own
credentials), forged-uid (a hello whose SCM_CREDENTIALS claim uid 65534;
needs CAP_SETUID), other (a message that is not a hello).

It prints "ready" once listening, then, after its answer, reads until
keywardd closes and prints "received N bytes" (what keywardd sent it).
"""

import os
import socket
import struct
import sys

SPAWN_SIGNAL = 2
SPAWN_HELLO = 11  # enum spawn_type in agent/spawn/spawn_msg.h
SPAWN_PROTO_VERSION = 1
# struct ucred {pid_t pid; uid_t uid; gid_t gid;}
UCRED = "iII"


def hello(conn, pid, uid, gid):
    creds = struct.pack(UCRED, pid, uid, gid)
    conn.sendmsg([struct.pack("II", SPAWN_HELLO, SPAWN_PROTO_VERSION)],
                 [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])


def main(path, mode):
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    lsock.bind(path)
    lsock.listen(1)
    print("ready", flush=True)
    conn, _ = lsock.accept()
    lsock.close()
    if mode == "close":
        conn.close()
        print("received 0 bytes", flush=True)
        return 0
    if mode == "hello":
        conn.send(struct.pack("II", SPAWN_HELLO, SPAWN_PROTO_VERSION))
    elif mode == "forged-uid":
        hello(conn, os.getpid(), 65534, os.getgid())
    elif mode == "other":
        conn.send(struct.pack("IIi", SPAWN_SIGNAL, 1, 15))
    elif mode != "silent":
        sys.stderr.write("unknown mode %s\n" % mode)
        return 2
    total = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        total += len(data)
    print("received %d bytes" % total, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
