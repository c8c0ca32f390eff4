"""A blocking JSON-RPC connection to keywardd (docs/protocol.md) for the
bench scripts (scale.py, soak_load.py). Python 3 standard library only."""

import json
import socket


class Closed(Exception):
    """The agent closed the connection, or answered out of turn."""


class Conn:
    """Newline-delimited JSON-RPC over the agent's Unix socket."""

    def __init__(self, path, timeout):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send(self, method, params=None, id=None):
        if id is None:
            id = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(json.dumps(msg, separators=(",", ":")).encode() +
                          b"\n")
        return id

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise Closed("the agent closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None):
        """The response object (result or error); notifications, which
        callers that want them read with recv, are skipped."""
        id = self.send(method, params)
        while True:
            resp = self.recv()
            if resp.get("id") == id:
                return resp
            if "id" in resp:
                raise Closed("answer to id %r while waiting for %r"
                             % (resp.get("id"), id))
