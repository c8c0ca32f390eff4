/*
 * oauth_login.c - keyward oauth login NAME [--device] [--no-browser]:
 * the user's side of a login (docs/oauth.md, "Logging in").
 *
 * Code + PKCE: a listener on 127.0.0.1 and a port the kernel picks is the
 * redirect URI (RFC 8252 7.3); the agent makes the authorization URL (its
 * PKCE verifier and state never leave it), the user's browser comes back
 * to the listener with the code, and the agent exchanges it. The listener
 * answers only GET of its own path, one request per connection, with
 * bounded reads and deadlines; anything else gets 404 and is otherwise
 * ignored. The code is wiped once handed on.
 *
 * Device grant (RFC 8628): the agent asks for a user code, this prints it
 * with the verification URI, and the agent polls until the user is done.
 *
 * The browser: $BROWSER if set (the first of a ':' list, run with the URL
 * as its one argument, no shell), else xdg-open when there is a display;
 * the URL is always printed too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "oauth.h"
#include "secmem.h"
#include "writeall.h"

extern char **environ;

#define CALLBACK_PATH "/callback"
#define LOGIN_WAIT_MS (10 * 60 * 1000) /* the agent's own bound */
#define REQUEST_MAX   8192u
#define CONN_READ_MS  10000
#define BROWSER_MAX   1024u

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the browser on url; its pid or -1. Never a shell. */
static pid_t open_browser(const char *url)
{
	const char *env = getenv("BROWSER");
	char prog[BROWSER_MAX];
	pid_t pid;

	if (env && env[0]) {
		size_t n = strcspn(env, ":");
		if (n == 0 || n >= sizeof(prog))
			return -1;
		memcpy(prog, env, n);
		prog[n] = '\0';
	} else if (getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")) {
		snprintf(prog, sizeof(prog), "xdg-open");
	} else {
		return -1;
	}
	char *argv[] = { prog, (char *)url, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* Its output is not ours to show; stdin is not its to read. */
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	                                 O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	                                 O_WRONLY, 0);
	int r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return r == 0 ? pid : -1;
}

static void reap(pid_t pid)
{
	if (pid > 0)
		waitpid(pid, NULL, WNOHANG);
}

/* A listener on 127.0.0.1, port from the kernel. */
static int listen_loopback(unsigned *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		close(fd);
		return -1;
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static void respond(int fd, int status, const char *text)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
	                 "charset=utf-8\r\nContent-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	                 status, status == 200 ? "OK" : "Not Found",
	                 strlen(text));
	if (kw_write_all(fd, head, (size_t)n) == 0)
		(void)kw_write_all(fd, text, strlen(text));
}

/*
 * Read one request head from fd (bounded, by the deadline) into buf
 * (REQUEST_MAX + 1 bytes): 0 with the query of "GET /callback?QUERY"
 * in *ret_query (pointing into buf), 1 if it is some other request (a
 * favicon), -1 if unreadable.
 */
static int read_request(int fd, char *buf, const char **ret_query)
{
	size_t len = 0;
	int64_t end = now_ms() + CONN_READ_MS;

	while (len < REQUEST_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		ssize_t n = read(fd, buf + len, REQUEST_MAX - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
	}
	buf[len] = '\0';
	char *eol = strpbrk(buf, "\r\n");
	if (!eol)
		return -1;
	*eol = '\0';
	static const char get[] = "GET " CALLBACK_PATH "?";
	if (strncmp(buf, get, sizeof(get) - 1) != 0)
		return 1;
	char *q = buf + sizeof(get) - 1;
	char *sp = strchr(q, ' ');
	if (!sp)
		return -1;
	*sp = '\0';
	*ret_query = q;
	return 0;
}

/* Wait for the redirect on lfd: 0 with *cb filled, or an exit code. The
 * connection it came on is left open in *ret_fd for the answer. */
static int wait_redirect(const struct cli *cli, const char *name, int lfd,
                         kw_oauth_callback *cb, int *ret_fd)
{
	int64_t end = now_ms() + LOGIN_WAIT_MS;
	char *buf = kw_wipealloc(REQUEST_MAX + 1);
	char why[160];

	if (!buf)
		return cli_fail(cli, NULL, name, KW_ENOMEM);
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int64_t left = end - now_ms();
		if (left <= 0) {
			kw_wipefree(buf);
			cli_msg(cli, name,
			        "no redirect came back within 10 minutes");
			return CLI_EXIT_ERROR;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		const char *query = NULL;
		int r = read_request(fd, buf, &query);
		if (r != 0) {
			if (r > 0)
				respond(fd, 404, "not found\n");
			close(fd);
			continue;
		}
		r = kw_oauth_callback_parse(query, strlen(query), cb, why,
		                            sizeof(why));
		kw_wipefree(buf);
		if (r < 0) {
			respond(fd, 400, "keyward: a malformed redirect\n");
			close(fd);
			cli_msg(cli, name, "the redirect is malformed: %s",
			        why);
			return CLI_EXIT_ERROR;
		}
		*ret_fd = fd;
		return 0;
	}
}

static int login_code(struct cli *cli, kw_client *c, const char *name,
                      bool browser)
{
	/* The login's wait is longer than any other call's. */
	if (kw_set_timeout(c, LOGIN_WAIT_MS) < 0)
		return cli_fail(cli, c, name, KW_EINVAL);
	unsigned port = 0;
	char redirect[64];
	json_t *res = NULL, *params;
	const char *url = NULL;
	kw_oauth_callback cb = { 0 };
	int lfd, fd = -1, ex, r;
	pid_t pid = -1;

	if ((lfd = listen_loopback(&port)) < 0) {
		cli_msg(cli, name, "cannot listen on 127.0.0.1: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%u%s", port,
	         CALLBACK_PATH);
	params =
		json_pack("{s:s, s:s}", "name", name, "redirect_uri", redirect);
	r = params ? cli_call(c, "oauth.login_begin", params, &res) : KW_ENOMEM;
	if (r == 0 && !kw_json_get_text(res, "authorize_url", &url))
		r = KW_EPROTO;
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
		goto out;
	}
	fprintf(stderr,
	        "keyward: oauth login %s: open this URL in a browser and log "
	        "in:\n\n  %s\n\n",
	        name, url);
	if (browser)
		pid = open_browser(url);
	if ((ex = wait_redirect(cli, name, lfd, &cb, &fd)) != 0)
		goto out;
	if (cb.error[0]) {
		respond(fd, 200,
		        "keyward: the login was refused; see the "
		        "terminal\n");
		cli_msg(cli, name, "the authorization server refused: %s%s%s",
		        cb.error, cb.description[0] ? ": " : "",
		        cb.description);
		ex = CLI_EXIT_DENIED;
		goto out;
	}
	json_decref(res);
	res = NULL;
	params = json_pack("{s:s, s:s, s:s}", "name", name, "code", cb.code,
	                   "state", cb.state);
	if (params && cb.has_iss &&
	    json_object_set_new(params, "iss", json_string(cb.iss)) < 0) {
		json_decref(params);
		params = NULL;
	}
	r = params ? cli_call(c, "oauth.login_finish", params, &res) :
	             KW_ENOMEM;
	if (r < 0) {
		respond(fd, 200,
		        "keyward: the login failed; see the terminal\n");
		ex = cli_fail(cli, c, name, r);
		goto out;
	}
	respond(fd, 200, "keyward: logged in; you may close this window\n");
	printf("%s: logged in; it has an access token (keyward oauth status "
	       "%s)\n",
	       name, name);
	ex = CLI_EXIT_OK;
out:
	kw_oauth_callback_clear(&cb);
	json_decref(res);
	if (fd >= 0)
		close(fd);
	close(lfd);
	reap(pid);
	return ex;
}

static int login_device(struct cli *cli, kw_client *c, const char *name,
                        bool browser)
{
	json_t *res = NULL;
	const char *code = NULL, *uri = NULL, *complete = NULL;
	uint64_t expires = 0;
	pid_t pid = -1;
	int ex, r;

	r = cli_call_name(c, "oauth.device_begin", name, &res);
	if (r == 0 && (!kw_json_get_text(res, "user_code", &code) ||
	               !kw_json_get_text(res, "verification_uri", &uri) ||
	               !kw_json_get_uint(res, "expires_in", 0, &expires)))
		r = KW_EPROTO;
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
		json_decref(res);
		return ex;
	}
	kw_json_get_text(res, "verification_uri_complete", &complete);
	fprintf(stderr,
	        "keyward: oauth login %s: on any device, open\n\n  %s\n\nand "
	        "enter the code\n\n  %s\n\n",
	        name, uri, code);
	if (complete)
		fprintf(stderr, "(or open %s)\n", complete);
	fprintf(stderr, "Waiting for the login (at most %llu s)...\n",
	        (unsigned long long)expires);
	if (browser)
		pid = open_browser(complete ? complete : uri);
	json_decref(res);
	res = NULL;
	if (kw_set_timeout(c, (int)(expires + 60) * 1000) < 0) {
		reap(pid);
		return cli_fail(cli, c, name, KW_EINVAL);
	}
	r = cli_call_name(c, "oauth.login_wait", name, &res);
	json_decref(res);
	reap(pid);
	if (r < 0)
		return cli_fail(cli, c, name, r);
	printf("%s: logged in; it has an access token (keyward oauth status "
	       "%s)\n",
	       name, name);
	return CLI_EXIT_OK;
}

int cli_oauth_login_run(struct cli *cli, kw_client *c, const char *name,
                        bool device, bool browser)
{
	/* A browser that dies must not take us with it. */
	signal(SIGPIPE, SIG_IGN);
	return device ? login_device(cli, c, name, browser) :
	                login_code(cli, c, name, browser);
}

int cli_oauth_login(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", no_argument, NULL, 'd' },
		{ "no-browser", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool device = false, browser = true;
	kw_client *c = NULL;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'd')
			device = true;
		else if (opt == 'n')
			browser = false;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
	}
	if (optind + 1 != argc)
		return cli_usage(cli, "oauth login takes one NAME");
	const char *name = argv[optind];
	if ((ex = cli_check_name(cli, name)) != 0)
		return ex;
	if ((ex = cli_connect(cli, LOGIN_WAIT_MS, &c)) != 0)
		return ex;
	ex = cli_oauth_login_run(cli, c, name, device, browser);
	kw_close(c);
	return ex;
}
