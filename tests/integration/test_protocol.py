"""The wire contract (docs/protocol.md) spoken over a raw socket: result
shapes, ids, notifications, pipelining, names, params and the rule that no
error message ever carries a value."""

import json
import os
import re
import unittest

from harness import DaemonTestCase, b64

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Shapes(DaemonTestCase):

    def test_put_get_result_members(self):
        rpc = self.rpc()
        value = os.urandom(40)
        res = self.assertRpcResult(rpc.call(
            "secret.put", {"name": "wire/a", "value": b64(value)}))
        self.assertEqual(res, {"name": "wire/a", "version": 1})
        res = self.assertRpcResult(rpc.call("secret.get",
                                            {"name": "wire/a"}))
        self.assertEqual(res["name"], "wire/a")
        self.assertEqual(res["version"], 1)
        self.assertEqual(res["stage"], "current")
        self.assertRegex(res["created"], RFC3339)
        self.assertEqual(res["value"], b64(value))
        res = self.assertRpcResult(rpc.call(
            "secret.get", {"name": "wire/a", "version": 1}))
        self.assertEqual(res["value"], b64(value))
        res = self.assertRpcResult(rpc.call(
            "secret.get", {"name": "wire/a", "stage": "current"}))
        self.assertEqual(res["value"], b64(value))

    def test_empty_value_and_generate(self):
        rpc = self.rpc()
        self.assertRpcResult(rpc.call("secret.put",
                                      {"name": "wire/e", "value": ""}))
        res = self.assertRpcResult(rpc.call("secret.get", {"name": "wire/e"}))
        self.assertEqual(res["value"], "")
        res = self.assertRpcResult(rpc.call(
            "secret.put", {"name": "wire/g", "generate": 16}))
        self.assertEqual(res, {"name": "wire/g", "version": 1},
                         "generate must not return the value")
        res = self.assertRpcResult(rpc.call("secret.get", {"name": "wire/g"}))
        self.assertEqual(len(res["value"]), 24)

    def test_list_versions_delete(self):
        rpc = self.rpc()
        for name in ("p/b", "p/a", "q"):
            self.assertRpcResult(rpc.call("secret.put",
                                          {"name": name, "value": "eA=="}))
        self.assertRpcResult(rpc.call("secret.put",
                                      {"name": "p/a", "value": "eQ=="}))
        res = self.assertRpcResult(rpc.call("secret.list", {"prefix": "p/"}))
        names = [s["name"] for s in res["secrets"]]
        self.assertEqual(names, ["p/a", "p/b"])
        pa = res["secrets"][0]
        self.assertEqual((pa["version"], pa["versions"]), (2, 2))
        self.assertRegex(pa["created"], RFC3339)
        self.assertRegex(pa["updated"], RFC3339)
        self.assertNotIn("value", pa)
        res = self.assertRpcResult(rpc.call("secret.list"))
        self.assertEqual([s["name"] for s in res["secrets"]],
                         ["p/a", "p/b", "q"])
        res = self.assertRpcResult(rpc.call("secret.versions",
                                            {"name": "p/a"}))
        self.assertEqual([(v["version"], v["stage"]) for v in
                          res["versions"]], [(2, "current"),
                                             (1, "previous")])
        res = self.assertRpcResult(rpc.call("secret.delete", {"name": "p/a"}))
        self.assertEqual(res, {"name": "p/a", "deleted_versions": 2})
        self.assertRpcError(rpc.call("secret.get", {"name": "p/a"}),
                            1004, "not_found")
        self.assertRpcError(rpc.call("secret.delete", {"name": "p/a"}),
                            1004, "not_found")

    def test_status(self):
        res = self.assertRpcResult(self.rpc().call("agent.status"))
        self.assertIs(res["locked"], False)
        self.assertEqual(res["mode"], "keyfile")
        self.assertIs(res["unlocking"], False)
        self.assertIsInstance(res["uptime_s"], int)
        self.assertIsInstance(res["version"], str)
        self.assertEqual(res["socket"], self.h.socket)
        self.assertEqual(res["secrets"], 0)

    def test_ids_echoed(self):
        rpc = self.rpc()
        for id in ("a-string-id", 0, 2 ** 40, ""):
            resp = rpc.call("agent.status", id=id)
            self.assertEqual(resp["id"], id)
            self.assertRpcResult(resp)
        resp = rpc.call("no.such.method", id="err-id")
        self.assertEqual(resp["id"], "err-id")

    def test_notification_not_answered(self):
        rpc = self.rpc()
        rpc.send_obj({"jsonrpc": "2.0", "method": "secret.put",
                      "params": {"name": "note/x", "value": "bm90ZQ=="}})
        resp = rpc.call("secret.get", {"name": "note/x"}, id=77)
        self.assertEqual(resp["id"], 77, "a notification was answered")
        self.assertEqual(self.assertRpcResult(resp)["value"], "bm90ZQ==")

    def test_pipelined_answered_in_order(self):
        rpc = self.rpc()
        lines = []
        for i in range(20):
            lines.append(json.dumps({
                "jsonrpc": "2.0", "id": i, "method": "secret.put",
                "params": {"name": "pipe/x", "value": b64(b"%d" % i)}}))
        lines.append(json.dumps({"jsonrpc": "2.0", "id": 20,
                                 "method": "secret.get",
                                 "params": {"name": "pipe/x"}}))
        self.assertTrue(rpc.send("\n".join(lines) + "\n"))
        for i in range(20):
            resp = rpc.recv_json()
            self.assertEqual(resp["id"], i)
            self.assertEqual(self.assertRpcResult(resp)["version"], i + 1)
        resp = rpc.recv_json()
        self.assertEqual(resp["id"], 20)
        self.assertEqual(self.assertRpcResult(resp)["value"], b64(b"19"))

    def test_many_requests_one_connection(self):
        rpc = self.rpc()
        self.assertRpcResult(rpc.call("secret.put",
                                      {"name": "many/x", "value": "YQ=="}))
        for i in range(200):
            resp = rpc.call("secret.get", {"name": "many/x"})
            self.assertEqual(self.assertRpcResult(resp)["value"], "YQ==")


class Names(DaemonTestCase):

    BAD = [
        ("../etc", ".."),
        ("a/../b", ".."),
        ("..", ".."),
        (".", None),
        ("a/./b", None),
        ("/abs", None),
        ("trailing/", None),
        ("a//b", None),
        ("", None),
        ("a b", None),
        ("semi;colon", None),
        ("caf\u00e9", None),
        ("x" * 256, None),
    ]

    def test_invalid_names(self):
        rpc = self.rpc()
        for name, mention in self.BAD:
            for method in ("secret.get", "secret.put", "secret.versions",
                           "secret.delete"):
                with self.subTest(name=name[:20], method=method):
                    params = {"name": name}
                    if method == "secret.put":
                        params["value"] = "eA=="
                    err = self.assertRpcError(rpc.call(method, params),
                                              1007, "invalid_name")
                    if mention:
                        self.assertIn(mention, err["message"])
                    if "field" in err["data"]:
                        self.assertEqual(err["data"]["field"], "name")
        res = self.assertRpcResult(rpc.call("secret.list"))
        self.assertEqual(res["secrets"], [], "an invalid name was stored")

    def test_nul_in_name(self):
        # jansson may refuse \u0000 while parsing; either way it is an
        # error and the connection stays usable.
        rpc = self.rpc()
        rpc.send_obj(rpc.request("secret.put", {"name": "nul\u0000byte",
                                                "value": "eA=="}, id=5))
        resp = rpc.recv_json()
        self.assertIn(resp.get("id"), (5, None), resp)
        self.assertIn("error", resp, resp)
        self.assertIn(resp["error"]["code"], (1007, -32602, -32700), resp)
        self.assertRpcResult(rpc.call("agent.status"))
        res = self.assertRpcResult(rpc.call("secret.list"))
        self.assertEqual(res["secrets"], [])

    def test_example_from_protocol_doc(self):
        resp = self.rpc().call("secret.get", {"name": "../etc"}, id=3)
        err = self.assertRpcError(resp, 1007, "invalid_name")
        self.assertIn("'..'", err["message"])

    def test_bad_prefix(self):
        rpc = self.rpc()
        for prefix in ("../", "a b", "/x"):
            with self.subTest(prefix=prefix):
                resp = rpc.call("secret.list", {"prefix": prefix})
                self.assertIn("error", resp)
                self.assertIn(resp["error"]["code"], (1007, -32602), resp)

    def test_boundary_name_ok(self):
        rpc = self.rpc()
        name = "y" * 255
        self.assertRpcResult(rpc.call("secret.put",
                                      {"name": name, "value": "eA=="}))
        res = self.assertRpcResult(rpc.call("secret.get", {"name": name}))
        self.assertEqual(res["name"], name)


class NoValueInErrors(DaemonTestCase):
    """Error responses name the rule or field and never echo a value."""

    def setUp(self):
        super().setUp()
        self.canary = b"CANARY-" + os.urandom(12).hex().encode()

    def assertClean(self, resp):
        text = json.dumps(resp)
        for needle in (self.canary.decode(), b64(self.canary),
                       self.canary.hex()):
            self.assertNotIn(needle, text, "an error echoes a value: %r"
                             % resp)
        self.assertIn("error", resp)

    def test_bad_name_does_not_echo_value(self):
        rpc = self.rpc()
        resp = rpc.call("secret.put", {"name": "../etc",
                                       "value": b64(self.canary)})
        self.assertRpcError(resp, 1007, "invalid_name")
        self.assertClean(resp)

    def test_unknown_member_does_not_echo_its_value(self):
        rpc = self.rpc()
        resp = rpc.call("secret.put", {"name": "ok", "value": "eA==",
                                       "valeu": self.canary.decode()})
        self.assertRpcError(resp, -32602, "invalid_params", field="valeu")
        self.assertClean(resp)

    def test_bad_base64_does_not_echo(self):
        rpc = self.rpc()
        bad = self.canary.decode() + "!!*"
        resp = rpc.call("secret.put", {"name": "ok", "value": bad})
        self.assertRpcError(resp, -32602, "invalid_params", field="value")
        self.assertClean(resp)

    def test_too_big_does_not_echo(self):
        rpc = self.rpc()
        value = (self.canary * (65537 // len(self.canary) + 1))[:65537]
        resp = rpc.call("secret.put", {"name": "ok", "value": b64(value)})
        self.assertRpcError(resp, 1008, "too_big")
        self.assertClean(resp)
        resp = rpc.call("secret.put", {"name": "ok",
                                       "value": b64(value[:65536])})
        self.assertRpcResult(resp)

    def test_name_type_error_does_not_echo(self):
        rpc = self.rpc()
        resp = rpc.call("secret.get", {"name": [self.canary.decode()]})
        self.assertRpcError(resp, -32602, "invalid_params", field="name")
        self.assertClean(resp)

    def test_log_never_has_the_canary(self):
        self.test_bad_name_does_not_echo_value()
        self.test_unknown_member_does_not_echo_its_value()
        self.test_bad_base64_does_not_echo()
        self.test_name_type_error_does_not_echo()
        self.assertEqual(self.d.stop(), 0)
        log = self.h.log_text()
        for needle in (self.canary.decode(), b64(self.canary),
                       self.canary.hex()):
            self.assertNotIn(needle, log)


if __name__ == "__main__":
    unittest.main()
