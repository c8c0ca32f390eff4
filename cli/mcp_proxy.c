/*
 * mcp_proxy.c - keyward mcp proxy URL [--header 'Name: value']...
 *     [--allow-private] [--allow-insecure] [--protocol-version V]
 *     [--verbose]
 *
 * An MCP stdio server, for an MCP client to launch from its config, that
 * bridges every JSON-RPC message to the remote MCP server at URL over
 * Streamable HTTP and back, adding the headers the options name, whose
 * values may come from keyward ({{ keyward://NAME }}). The client's
 * config holds no token; this process sees only this server's header
 * values, never the agent's keys (docs/threat-model.md).
 *
 * One loop (curl_multi_poll) waits on libcurl's sockets, stdin, stdout
 * when there is something to write, the agent's connection (rotations)
 * and a signalfd. At the end of stdin (or SIGTERM, SIGINT, SIGHUP) it
 * stops reading, lets the requests in flight finish for at most
 * PROXY_DRAIN_MS, writes what is left, ends the session with DELETE and
 * exits: 0 at the end of stdin, 128+N after signal N.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "mask.h"
#include "mcp_proxy.h"
#include "secmem.h"

#define FLUSH_MS    5000
#define POLL_MAX_MS 1000

struct loop {
	struct proxy *p;
	int sigfd;
	int stop_signal;
	bool draining;
	int64_t deadline;
};

static void on_line(void *arg, const char *line, size_t len)
{
	struct proxy *p = arg;
	struct pmsg *m = NULL;
	char *err = NULL, why[256] = "";
	size_t i = 0;

	while (i < len &&
	       (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (i == len)
		return; /* a blank line */
	if (pmsg_parse(line, len, &m, &err, why, sizeof(why)) < 0) {
		cli_msg(p->cli, NULL,
		        "a message from the client was not sent: "
		        "%s",
		        why[0] ? why : "out of memory");
		if (err)
			proxy_emit(p, err, strlen(err));
		free(err);
		return;
	}
	proxy_send(p, m, proxy_now_ms());
}

static void on_toolong(void *arg, json_t *id, size_t bytes)
{
	struct proxy *p = arg;
	char text[160], *err;

	snprintf(text, sizeof(text),
	         "keyward mcp proxy: the message is larger than %u bytes; it "
	         "was not sent",
	         PROXY_MSG_MAX);
	cli_msg(p->cli, NULL,
	        "a message from the client of %zu bytes or more was not sent "
	        "(at most %u)%s",
	        bytes, PROXY_MSG_MAX, id ? "" : "; it has no id to answer");
	if (!id)
		return;
	err = pmsg_error(id, PROXY_ERR_INVALID, text, 0);
	if (err)
		proxy_emit(p, err, strlen(err));
	free(err);
}

/* The OAuth options (mcp_proxy_auth.c). */
struct oauth_opts {
	const char *name, *client_id, *resource;
	bool off, device, no_browser;
};

static int parse_opts(struct cli *cli, int argc, char **argv, struct proxy *p,
                      const char **ret_url, bool *ret_private,
                      bool *ret_insecure, struct oauth_opts *oa)
{
	static const struct option opts[] = {
		{ "oauth", required_argument, NULL, 'O' },
		{ "client-id", required_argument, NULL, 'C' },
		{ "resource", required_argument, NULL, 'R' },
		{ "no-oauth", no_argument, NULL, 'N' },
		{ "device", no_argument, NULL, 'D' },
		{ "no-browser", no_argument, NULL, 'B' },
		{ "header", required_argument, NULL, 'H' },
		{ "allow-private", no_argument, NULL, 'P' },
		{ "allow-insecure", no_argument, NULL, 'I' },
		{ "protocol-version", required_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	char why[256];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "hH:v", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			r = proxy_headers_add(&p->hdrs, optarg, why,
			                      sizeof(why));
			if (r == KW_ENOMEM)
				return cli_fail(cli, NULL, NULL, r);
			if (r < 0)
				return cli_usage(cli, "%s", why);
			break;
		case 'P':
			*ret_private = true;
			break;
		case 'I':
			*ret_insecure = true;
			break;
		case 'V':
			if (!pmsg_header_safe(optarg, PROXY_VERSION_MAX) ||
			    strchr(optarg, ' ') || strchr(optarg, '\t'))
				return cli_usage(cli, "--protocol-version: "
				                      "expected a version such "
				                      "as 2025-11-25");
			p->default_version = optarg;
			break;
		case 'v':
			p->verbose++;
			break;
		case 'O':
			oa->name = optarg;
			if (cli_check_name(cli, optarg) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'C':
			oa->client_id = optarg;
			break;
		case 'R':
			oa->resource = optarg;
			break;
		case 'N':
			oa->off = true;
			break;
		case 'D':
			oa->device = true;
			break;
		case 'B':
			oa->no_browser = true;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind != argc - 1)
		return cli_usage(cli, "mcp proxy takes one URL");
	if (oa->off && (oa->name || oa->client_id || oa->resource))
		return cli_usage(cli, "--no-oauth with an OAuth option");
	*ret_url = argv[optind];
	return 0;
}

/* Does a --header give the Authorization itself? Then a 401 is that
 * header's to answer, not OAuth's. */
static bool has_authorization(const struct proxy_headers *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		if (strcasecmp(hs->h[i].name, "Authorization") == 0)
			return true;
	}
	return false;
}

/* KEYWARD_DEBUG=1: each exchange; 2: and the messages. */
static void debug_env(struct proxy *p)
{
	const char *d = getenv("KEYWARD_DEBUG");

	if (d && (strcmp(d, "1") == 0 || strcmp(d, "2") == 0) &&
	    p->verbose < d[0] - '0')
		p->verbose = d[0] - '0';
}

static int signals_fd(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Write what is queued, waiting at most FLUSH_MS. */
static void flush_out(struct proxy *p)
{
	int64_t end = proxy_now_ms() + FLUSH_MS;

	while (p->out.head && !p->out.broken) {
		int64_t left = end - proxy_now_ms();
		struct pollfd pfd = { .fd = 1, .events = POLLOUT };

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		(void)proxy_out_write(&p->out);
	}
}

static long loop_timeout(const struct loop *lp, int64_t now)
{
	const struct proxy *p = lp->p;
	long t = proxy_http_next_ms(p, now);

	if (p->hdrs.c && p->hdrs.retry_at_ms) {
		long h = p->hdrs.retry_at_ms > now ?
		                 (long)(p->hdrs.retry_at_ms - now) :
		                 0;
		t = t < 0 || h < t ? h : t;
	}
	if (lp->draining) {
		long d = lp->deadline > now ? (long)(lp->deadline - now) : 0;
		t = t < 0 || d < t ? d : t;
	}
	return t < 0 || t > POLL_MAX_MS ? POLL_MAX_MS : t;
}

/* One turn; false when the proxy is done. */
static bool turn(struct cli *cli, struct loop *lp)
{
	struct proxy *p = lp->p;
	int64_t now = proxy_now_ms();
	struct pollfd fds[4];
	struct curl_waitfd wfds[4];
	int n = 0, agent = proxy_headers_fd(&p->hdrs);
	bool want_in = !p->in.eof && !lp->draining &&
	               p->inflight < PROXY_XFERS_MAX &&
	               p->out.queued < PROXY_OUT_HIGH;

	if ((p->in.eof || lp->stop_signal || p->out.broken) && !lp->draining) {
		lp->draining = true;
		lp->deadline = now + PROXY_DRAIN_MS;
		proxy_http_stop(p, false);
	}
	if (lp->draining &&
	    (!proxy_http_busy(p) || now >= lp->deadline || p->out.broken))
		return false;
	fds[n++] = (struct pollfd){ .fd = lp->sigfd, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = want_in ? 0 : -1, .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = p->out.head ? 1 : -1,
		                    .events = POLLOUT };
	fds[n++] = (struct pollfd){ .fd = agent, .events = POLLIN };
	for (int i = 0; i < n; i++)
		wfds[i] = (struct curl_waitfd){
			.fd = fds[i].fd,
			.events = fds[i].events == POLLIN ? CURL_WAIT_POLLIN :
			                                    CURL_WAIT_POLLOUT,
		};
	/* libcurl skips negative descriptors; its revents do not show a
	 * hang-up, so ask poll itself afterwards. */
	curl_multi_poll(p->multi, wfds, (unsigned)n, (int)loop_timeout(lp, now),
	                NULL);
	if (poll(fds, (nfds_t)n, 0) < 0 && errno != EINTR)
		return false;
	now = proxy_now_ms();
	if (fds[0].revents) {
		struct signalfd_siginfo si;

		while (read(lp->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			lp->stop_signal = (int)si.ssi_signo;
	}
	if (fds[2].revents && proxy_out_write(&p->out) < 0)
		cli_msg(cli, NULL, "stdout is closed; stopping");
	if (fds[1].revents &&
	    proxy_in_read(&p->in, on_line, on_toolong, p) == KW_ENOMEM)
		cli_msg(cli, NULL, "out of memory reading stdin");
	if (fds[3].revents ||
	    (p->hdrs.retry_at_ms && now >= p->hdrs.retry_at_ms))
		proxy_headers_poll(cli, &p->hdrs, now);
	proxy_http_perform(p, now);
	proxy_http_timers(p, now);
	if (p->out.head)
		(void)proxy_out_write(&p->out);
	if (p->out.queued < PROXY_OUT_LOW)
		proxy_http_resume(p);
	return true;
}

static int run(struct cli *cli, struct proxy *p)
{
	struct loop lp = { .p = p, .sigfd = signals_fd() };

	if (lp.sigfd < 0) {
		cli_msg(cli, NULL, "cannot set up signals: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	proxy_debug(p, 1, "bridging stdio to %s", p->dest.url);
	while (turn(cli, &lp))
		;
	proxy_http_stop(p, true);
	flush_out(p);
	proxy_http_delete(p);
	close(lp.sigfd);
	if (lp.stop_signal)
		return 128 + lp.stop_signal;
	return p->out.broken ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

int cli_mcp_proxy(struct cli *cli, int argc, char **argv)
{
	struct proxy *p = calloc(1, sizeof(*p));
	const char *url = NULL;
	bool allow_private = false, allow_insecure = false, curl_up = false;
	struct oauth_opts oa = { 0 };
	struct proxy_oauth *oauth = NULL;
	struct proxy_auth seam;
	char why[512];
	int ex, r;

	if (!p)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	p->cli = cli;
	ex = parse_opts(cli, argc, argv, p, &url, &allow_private,
	                &allow_insecure, &oa);
	debug_env(p);
	if (ex == 0 && kw_secmem_init() < 0) {
		cli_msg(cli, NULL, "cannot initialise libsodium");
		ex = CLI_EXIT_ERROR;
	}
	if (ex == 0 && proxy_curl_load(why, sizeof(why)) < 0) {
		cli_msg(cli, NULL, "%s", why);
		ex = CLI_EXIT_ERROR;
	} else if (ex == 0 &&
	           curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cli_msg(cli, NULL, "cannot initialise libcurl");
		ex = CLI_EXIT_ERROR;
	} else if (ex == 0) {
		curl_up = true;
	}
	if (ex == 0) {
		r = proxy_dest_init(&p->dest, url, allow_private,
		                    allow_insecure, why, sizeof(why));
		if (r == KW_EINVAL)
			ex = cli_usage(cli, "%s", why);
		else if (r < 0) {
			cli_msg(cli, NULL, "%s",
			        r == KW_ENOMEM ? kw_strerror(r) : why);
			ex = CLI_EXIT_ERROR;
		}
	}
	if (ex == 0)
		ex = proxy_headers_start(cli, &p->hdrs);
	if (ex == 0 && !oa.off && (oa.name || !has_authorization(&p->hdrs))) {
		r = proxy_oauth_new(cli, p->dest.url, oa.name, oa.client_id,
		                    oa.resource, allow_private, allow_insecure,
		                    oa.device, !oa.no_browser, &oauth);
		if (r < 0)
			ex = CLI_EXIT_ERROR;
		else {
			proxy_oauth_seam(oauth, &seam);
			p->auth = &seam;
		}
	}
	if (ex == 0 && p->verbose >= 2 &&
	    (r = proxy_headers_masker(&p->hdrs, &p->mask)) < 0)
		ex = cli_fail(cli, NULL, NULL, r);
	if (ex == 0 && (r = proxy_http_init(p)) < 0)
		ex = cli_fail(cli, NULL, NULL, r);
	if (ex == 0)
		ex = run(cli, p);
	proxy_http_free(p);
	proxy_in_free(&p->in);
	proxy_out_free(&p->out);
	kw_mask_free(p->mask);
	proxy_headers_free(&p->hdrs);
	proxy_oauth_free(oauth);
	proxy_dest_free(&p->dest);
	free(p);
	if (curl_up)
		curl_global_cleanup();
	return ex;
}
