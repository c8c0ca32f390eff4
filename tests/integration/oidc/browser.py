#!/usr/bin/env python3
"""A stand-in for a user's browser, for tests against the loopback
authorization server (provider.mjs). keyward runs it as $BROWSER.

    browser.py [--user-code CODE] URL

Given an authorization URL it does what a browser does when the user
clicks "allow": GETs it and follows every redirect, keeping cookies (the
provider's interaction uses them), through the provider's automatic login
and consent, until the provider redirects away from itself. That target
must be on a loopback host (127.0.0.1, [::1], localhost: the redirect URI
where the program under test listens); it GETs it and exits 0, whatever
status the listener answers, after printing one line to stderr with the
final URL's path and status.

Given the device grant's verification URI it does what a user does there:
types CODE into the provider's form (--user-code; verification_uri_complete
carries it already), confirms on the next page ("Continue"), goes through
the same automatic login and consent, and exits 0 on the provider's
"Sign-in Success" page.

Anything else exits 1 with a message saying what happened: the provider's
error page (its error and error_description are quoted), a page with no
form it knows, a redirect to a host that is not loopback, too many
redirects, a connection failure. 2: bad arguments.

Python 3 standard library only. The module is imported by kwoidc.py,
which calls browse() in-process (approve_device)."""

import html.parser
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_HOPS = 30
TIMEOUT_S = 30.0
LOOPBACK = ("127.0.0.1", "::1", "localhost")
DEVICE_INPUT = "op.deviceInputForm"
DEVICE_CONFIRM = "op.deviceConfirmForm"
AUTO_SUBMIT = b"document.forms[0].submit()"


class BrowserError(Exception):
    """Something other than reaching the redirect URI or the device
    flow's success page happened."""


class Outcome:
    """Where browse() ended: kind "redirect" (the redirect URI answered;
    url, status, body are its) or "device" (the provider's device sign-in
    success page)."""

    def __init__(self, kind, url, status, body):
        self.kind = kind
        self.url = url
        self.status = status
        self.body = body

    @property
    def query(self):
        """The final URL's query parameters, one value each."""
        return dict(urllib.parse.parse_qsl(
            urllib.parse.urlsplit(self.url).query, keep_blank_values=True))

    def __repr__(self):
        return "<Outcome %s %s %s>" % (self.kind, self.status,
                                       urllib.parse.urlsplit(self.url).path)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by browse() itself, hop by hop."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _Forms(html.parser.HTMLParser):
    """The forms of a page: {id: (method, action, {name: value})} and in
    order, and its text (for error messages)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = {}
        self.order = []
        self.text = []
        self._form = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "form":
            self._form = (a.get("method", "get").lower(), a.get("action", ""),
                          {})
            self.forms[a.get("id", "")] = self._form
            self.order.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form[2][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        elif tag == "form":
            self._form = None

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


def _origin(url):
    p = urllib.parse.urlsplit(url)
    return (p.scheme, p.hostname, p.port)


def _page_text(body):
    parser = _Forms()
    parser.feed(body.decode("utf-8", "replace"))
    return " | ".join(parser.text)[:600]


def browse(url, user_code=None, timeout=TIMEOUT_S, log=None):
    """Follow url as a browser would (see the module's comment). Returns
    an Outcome; raises BrowserError for anything else. log(str) is called
    with a line per request."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise BrowserError("not an http(s) URL: %r" % url)
    home = _origin(url)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    method, data = "GET", None
    typed = False
    for _ in range(MAX_HOPS):
        parts = urllib.parse.urlsplit(url)
        leaving = _origin(url) != home
        if leaving and parts.hostname not in LOOPBACK:
            raise BrowserError("the authorization server redirected to %s, "
                               "which is not a loopback address"
                               % parts.hostname)
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type",
                           "application/x-www-form-urlencoded")
        try:
            resp = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            resp = e
        except (urllib.error.URLError, OSError) as e:
            raise BrowserError("%s %s failed: %s" % (
                method, url if leaving else parts.path,
                getattr(e, "reason", e)))
        with resp:
            status, body = resp.status, resp.read()
            location = resp.headers.get("Location")
        if log:
            log("%s %s -> %d" % (method, parts.path, status))
        if leaving:
            return Outcome("redirect", url, status, body)
        if status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            if status not in (307, 308):
                method, data = "GET", None
            continue
        if status != 200:
            raise BrowserError("the authorization server answered %d to "
                               "%s %s: %s" % (status, method, parts.path,
                                              _page_text(body)))
        page = _Forms()
        page.feed(body.decode("utf-8", "replace"))
        text = " | ".join(page.text)
        if AUTO_SUBMIT in body and page.order:
            # oidc-provider's form_post page (the verification URI with
            # the user code in it answers one): a script submits it.
            form = page.order[0]
        elif DEVICE_CONFIRM in page.forms:
            form = page.forms[DEVICE_CONFIRM]
        elif DEVICE_INPUT in page.forms:
            form = page.forms[DEVICE_INPUT]
            if "incorrect" in text or "interrupted" in text or \
                    "error" in text.lower():
                raise BrowserError("the device sign-in page says: %s"
                                   % text[:600])
            if user_code is None:
                raise BrowserError("the authorization server asks for the "
                                   "user code (--user-code)")
            if typed:
                raise BrowserError("the authorization server asks for the "
                                   "user code again: %s" % text[:600])
            form[2]["user_code"] = user_code
            typed = True
        elif re.search(r"Sign-in Success", text):
            return Outcome("device", url, status, body)
        else:
            raise BrowserError("a page with nothing to do at %s: %s"
                               % (parts.path, text[:600]))
        fmethod, action, fields = form
        url = urllib.parse.urljoin(url, action)
        if fmethod == "post":
            method = "POST"
            data = urllib.parse.urlencode(fields).encode()
        else:
            method, data = "GET", None
            url = url.split("?")[0] + "?" + urllib.parse.urlencode(fields)
    raise BrowserError("more than %d redirects and forms, last at %s"
                       % (MAX_HOPS, url))


def main(argv):
    args = argv[1:]
    user_code = None
    if len(args) == 3 and args[0] == "--user-code":
        user_code, args = args[1], args[2:]
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: browser.py [--user-code CODE] URL\n")
        return 2
    try:
        out = browse(args[0], user_code=user_code)
    except BrowserError as e:
        sys.stderr.write("browser: %s\n" % e)
        return 1
    sys.stderr.write("browser: %s %s %d\n" % (
        "redirect URI" if out.kind == "redirect" else "device sign-in done",
        urllib.parse.urlsplit(out.url).path, out.status))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
