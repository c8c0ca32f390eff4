/*
 * owner.c - the owner's keyward CLIs: which keyward executables the default
 * policy (policies/00-owner.ini) names, keyward policy owner add and list,
 * and the hint printed when the agent refuses this keyward because no
 * section names it.
 *
 * The agent attributes a connection by its executable's path, so a store
 * made by one keyward (build/cli/keyward) refuses another
 * (/usr/local/bin/keyward) until the owner policy names that one too.
 * Adding a section and sending the agent SIGHUP is nothing a program of
 * the owner's uid could not do already: it owns the store's files
 * (docs/threat-model.md). The agent's pid comes from the socket, and is
 * signalled only when it is ours and runs keywardd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "paths.h"
#include "policy_owner.h"
#include "secmem.h"

/* Where this build installs keyward (cli/meson.build sets it from the
 * prefix; without it, the usual paths below are all init pins). */
#ifndef KW_INSTALLED_CLI
#define KW_INSTALLED_CLI "/usr/local/bin/keyward"
#endif

#define OWNER_FILE     "policies/00-owner.ini"
#define OWNER_FILE_MAX (64u << 10)
/* How long add waits for the agent to let this keyward in after SIGHUP. */
#define RELOAD_WAIT_MS 10000
#define RELOAD_POLL_MS 100
/* Longer than any section name a policy file takes. */
#define SECTION_MAX 80

bool cli_self_exe(char buf[static PATH_MAX])
{
	return realpath("/proc/self/exe", buf) != NULL;
}

static bool owner_exe_ok(const char *exe)
{
	return policy_exe_check(exe, NULL) == 0 &&
	       strlen(exe) <= POLICY_OWNER_EXE_MAX;
}

/* Add exe (resolved if it exists: the agent sees resolved paths) unless
 * it is there already or a policy cannot name it. */
static void paths_add(struct cli_owner_paths *o, const char *exe)
{
	char real[PATH_MAX];

	if (realpath(exe, real))
		exe = real;
	if (!owner_exe_ok(exe) || o->n == CLI_OWNER_MAX)
		return;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->path[i], exe) == 0)
			return;
	memcpy(o->path[o->n++], exe, strlen(exe) + 1);
}

int cli_owner_paths(const struct cli *cli, struct cli_owner_paths *ret)
{
	char self[PATH_MAX];

	ret->n = 0;
	if (!cli_self_exe(self)) {
		cli_msg(cli, NULL, "cannot find this program's path: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (!owner_exe_ok(self)) {
		cli_msg(cli, NULL,
		        "this program's path cannot be named in a policy: it "
		        "must be a normalised absolute path of at most %d "
		        "bytes",
		        POLICY_OWNER_EXE_MAX);
		return CLI_EXIT_ERROR;
	}
	paths_add(ret, self);
	paths_add(ret, KW_INSTALLED_CLI);
	paths_add(ret, "/usr/bin/keyward");
	paths_add(ret, "/usr/local/bin/keyward");
	return 0;
}

/* The owner policy file as read, and the stamp its replacement checks. */
struct owner_file {
	char path[KW_PATH_MAX];
	char *text; /* kw_wipealloc, NUL-terminated */
	size_t len;
	struct kw_filestamp stamp;
};

/* Read OWNER_FILE, which must be our own regular 0600 file (what init
 * wrote): a file others could write or swap is not one to build on. */
static int owner_file_read(const struct cli *cli, struct owner_file *f)
{
	char why[256];
	struct stat st;
	int r;

	if (kw_path_in_home(OWNER_FILE, f->path, sizeof(f->path)) < 0) {
		cli_msg(cli, NULL,
		        "cannot resolve the keyward home: KEYWARD_HOME (or "
		        "HOME) must be a short absolute path");
		return CLI_EXIT_ERROR;
	}
	r = kw_file_read(f->path, OWNER_FILE_MAX, &f->text, &f->len, &f->stamp,
	                 why, sizeof(why));
	if (r == KW_ENOTFOUND) {
		cli_msg(cli, NULL,
		        "%s does not exist (keyward init writes it; keyward "
		        "policy init writes it again)",
		        f->path);
		return CLI_EXIT_ERROR;
	}
	if (r < 0) {
		cli_msg(cli, NULL, "cannot read %s: %s", f->path, why);
		return CLI_EXIT_ERROR;
	}
	if (lstat(f->path, &st) < 0 || st.st_dev != f->stamp.dev ||
	    st.st_ino != f->stamp.ino || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 07777) != 0600) {
		cli_msg(cli, NULL,
		        "%s must stay your own regular file with mode 0600 "
		        "(chmod 600 it, or check who changed it)",
		        f->path);
		kw_wipefree(f->text);
		f->text = NULL;
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* What a pass over the owner file finds. */
struct owner_scan {
	const char *want; /* an exe looked for, or NULL */
	bool found;       /* want is named by an owner section */
	unsigned last;    /* highest owner section number (1: "owner-cli") */
	bool print;       /* print "SECTION  EXE" for each owner section */
	const char *self; /* marked in what is printed */
};

/* The number of owner section name, or 0 if it is not one. */
static unsigned owner_number(const char *name)
{
	uint64_t n;

	if (strcmp(name, "owner-cli") == 0)
		return 1;
	if (strncmp(name, "owner-cli-", 10) != 0 ||
	    !cli_parse_u64(name + 10, 2, 1000000, &n))
		return 0;
	return (unsigned)n;
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && strchr(" \t\r", s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* One line of the file; section holds the current section's name. */
static void scan_line(char *line, char *section, size_t sectionsz,
                      struct owner_scan *s)
{
	char *p = trim(line), *end, *value;

	if (strncmp(p, "[client \"", 9) == 0) {
		end = strchr(p + 9, '"');
		section[0] = '\0';
		if (end && end[1] == ']' && (size_t)(end - p - 9) < sectionsz) {
			memcpy(section, p + 9, (size_t)(end - p - 9));
			section[end - p - 9] = '\0';
		}
		if (owner_number(section) > s->last)
			s->last = owner_number(section);
		return;
	}
	if (p[0] == '[') {
		section[0] = '\0';
		return;
	}
	if (strncmp(p, "exe", 3) != 0 || !owner_number(section))
		return;
	value = trim(p + 3);
	if (value[0] != '=')
		return;
	value = trim(value + 1);
	if (s->want && strcmp(value, s->want) == 0)
		s->found = true;
	if (s->print) {
		printf("%-14s ", section);
		cli_print_clean(stdout, value);
		puts(s->self && strcmp(value, s->self) == 0 ?
		             "  (this keyward)" :
		             "");
	}
}

static void owner_scan(const char *text, struct owner_scan *s)
{
	char line[512], section[SECTION_MAX] = "";
	const char *p = text, *nl;
	size_t n;

	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		/* The parser refuses longer lines, so none names an exe. */
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			scan_line(line, section, sizeof(section), s);
		}
		p += nl ? n + 1 : n;
	}
}

/* Append owner section number index for exe to the file, replacing it
 * whole and only if nobody changed it since it was read. */
static int owner_append(const struct cli *cli, const struct owner_file *f,
                        unsigned index, const char *exe)
{
	char section[512], why[256];
	size_t len = f->len;
	char *text;
	int n, r;

	n = policy_owner_section(section, sizeof(section), index, geteuid(),
	                         exe);
	if (n < 0) {
		cli_msg(cli, NULL, "cannot write a section for this path");
		return CLI_EXIT_ERROR;
	}
	text = malloc(len + 2 + (size_t)n);
	if (!text)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	memcpy(text, f->text, len);
	if (len > 0 && text[len - 1] != '\n')
		text[len++] = '\n';
	text[len++] = '\n';
	memcpy(text + len, section, (size_t)n);
	len += (size_t)n;
	r = kw_atomic_replace(f->path, text, len, 0600, KW_ATOMIC_IF_UNCHANGED,
	                      &f->stamp, why, sizeof(why));
	free(text);
	if (r == KW_ESTATE) {
		cli_msg(cli, NULL, "%s changed while this ran; run it again",
		        f->path);
		return CLI_EXIT_ERROR;
	}
	if (r < 0) {
		cli_msg(cli, NULL, "cannot replace %s: %s", f->path, why);
		return CLI_EXIT_ERROR;
	}
	if (index == 1)
		fputs("added [client \"owner-cli\"] for ", stdout);
	else
		printf("added [client \"owner-cli-%u\"] for ", index);
	cli_print_clean(stdout, exe);
	printf(" to %s\n", f->path);
	return 0;
}

/* The socket's peer (the process that made the agent's listening socket)
 * as SO_PEERCRED tells; false if it cannot be read. */
static bool agent_cred(kw_client *c, struct ucred *ret)
{
	socklen_t len = sizeof(*ret);
	int fd = kw_fd(c);

	return fd >= 0 &&
	       getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &len) == 0 &&
	       len == sizeof(*ret);
}

static bool is_keywardd(const char *path)
{
	const char *slash = strrchr(path, '/');

	return strcmp(slash ? slash + 1 : path, "keywardd") == 0;
}

/*
 * pid runs keywardd: its executable is named so, or (under a wrapper such
 * as valgrind) one of its arguments. Under socket activation the socket's
 * peer is the service manager, which must not get the SIGHUP.
 */
static bool pid_is_keywardd(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if (is_keywardd(buf))
			return true;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (is_keywardd(buf + i))
			return true;
	return false;
}

/* SIGHUP to the agent behind c, through a pidfd so that a pid reused
 * after the check gets nothing. 0 or an exit code (printed). */
static int agent_sighup(const struct cli *cli, kw_client *c)
{
	struct ucred cr;
	struct stat st;
	char proc[64];
	int pfd, ok;

	if (!agent_cred(c, &cr)) {
		cli_msg(cli, NULL, "cannot tell which process the agent is: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (cr.uid != geteuid()) {
		cli_msg(cli, NULL,
		        "the agent runs as uid %lu, not as you: its owner "
		        "reloads it (keyward policy reload, or SIGHUP)",
		        (unsigned long)cr.uid);
		return CLI_EXIT_DENIED;
	}
	pfd = (int)syscall(SYS_pidfd_open, cr.pid, 0);
	if (pfd < 0) {
		cli_msg(cli, NULL, "cannot reach the agent (pid %ld): %s",
		        (long)cr.pid, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	snprintf(proc, sizeof(proc), "/proc/%ld", (long)cr.pid);
	ok = stat(proc, &st) == 0 && st.st_uid == geteuid() &&
	     pid_is_keywardd(cr.pid);
	if (!ok) {
		close(pfd);
		cli_msg(cli, NULL,
		        "the agent's socket was made by pid %ld, which is not "
		        "a keywardd of yours (socket activation?): reload the "
		        "agent with: systemctl --user reload keyward",
		        (long)cr.pid);
		return CLI_EXIT_ERROR;
	}
	ok = syscall(SYS_pidfd_send_signal, pfd, SIGHUP, NULL, 0) == 0;
	close(pfd);
	if (!ok) {
		cli_msg(cli, NULL, "cannot signal the agent (pid %ld): %s",
		        (long)cr.pid, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	printf("sent SIGHUP to keywardd (pid %ld): it reloads its policy\n",
	       (long)cr.pid);
	return 0;
}

/* Until agent.status answers this program, at most RELOAD_WAIT_MS. */
static int await_admission(const struct cli *cli, const char *sock)
{
	kw_client *c = NULL;
	json_t *res = NULL;
	int r = KW_EDENIED;

	for (int waited = 0; waited < RELOAD_WAIT_MS;
	     waited += RELOAD_POLL_MS) {
		r = kw_connect(&c, sock);
		if (r == 0)
			r = cli_call(c, "agent.status", NULL, &res);
		json_decref(res);
		res = NULL;
		kw_close(c);
		c = NULL;
		if (r == 0) {
			puts("the agent lets this keyward in now");
			return 0;
		}
		if (r != KW_EDENIED && r != KW_ECONNECT)
			break;
		poll(NULL, 0, RELOAD_POLL_MS);
	}
	cli_msg(cli, NULL,
	        "the agent still refuses this keyward (%s); if the new "
	        "policy did not load, its log says why",
	        kw_strerror(r));
	return cli_exit_code(r);
}

/*
 * Make a running agent load the changed file: policy.reload if it lets us,
 * else SIGHUP (self_added: then wait until it lets this keyward in).
 */
static int owner_reload(struct cli *cli, bool self_added)
{
	char sock[KW_PATH_MAX];
	kw_client *c = NULL;
	json_t *res = NULL;
	int ex, r;

	ex = cli_socket_path(cli, sock, sizeof(sock));
	if (ex != 0)
		return ex;
	r = kw_connect(&c, sock);
	if (r == KW_ECONNECT) {
		puts("no agent is running; it loads the policy when it starts");
		return 0;
	}
	if (r < 0)
		return cli_fail(cli, NULL, NULL, r);
	r = cli_call(c, "policy.reload", NULL, &res);
	json_decref(res);
	if (r == 0) {
		kw_close(c);
		puts("policy reloaded");
		return 0;
	}
	if (r != KW_EDENIED) {
		ex = cli_fail(cli, c, NULL, r);
		kw_close(c);
		return ex;
	}
	ex = agent_sighup(cli, c);
	kw_close(c);
	if (ex != 0 || !self_added)
		return ex;
	return await_admission(cli, sock);
}

static int owner_add(struct cli *cli, int argc, char **argv)
{
	char exe[PATH_MAX], self[PATH_MAX], real[PATH_MAX];
	struct owner_file f = { .text = NULL };
	struct owner_scan s = { .want = exe };
	const char *why = NULL;
	int ex = 0;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if (argc - optind > 1)
		return cli_usage(cli, "unexpected argument");
	if (!cli_self_exe(self)) {
		cli_msg(cli, NULL, "cannot find this program's path: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (optind == argc) {
		memcpy(exe, self, strlen(self) + 1);
	} else if (strlen(argv[optind]) >= sizeof(exe) ||
	           policy_exe_check(argv[optind], &why) < 0) {
		return cli_usage(cli, "PATH %s",
		                 why ? why : "is longer than PATH_MAX");
	} else {
		memcpy(exe, argv[optind], strlen(argv[optind]) + 1);
		if (realpath(exe, real) && strcmp(real, exe) != 0)
			return cli_usage(cli,
			                 "PATH %s resolves to %s, which is "
			                 "what the agent sees: name that",
			                 exe, real);
	}
	if (strlen(exe) > POLICY_OWNER_EXE_MAX)
		return cli_usage(cli, "PATH is longer than %d bytes",
		                 POLICY_OWNER_EXE_MAX);
	ex = owner_file_read(cli, &f);
	if (ex != 0)
		return ex;
	owner_scan(f.text, &s);
	if (s.found) {
		cli_print_clean(stdout, exe);
		printf(" is named already in %s\n", f.path);
	} else {
		ex = owner_append(cli, &f, s.last + 1, exe);
	}
	kw_wipefree(f.text);
	if (ex != 0)
		return ex;
	return owner_reload(cli, strcmp(exe, self) == 0);
}

static int owner_list(struct cli *cli, int argc, char **argv)
{
	char self[PATH_MAX];
	struct owner_file f = { .text = NULL };
	struct owner_scan s = { .print = true };
	int ex = 0;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	if (cli_self_exe(self))
		s.self = self;
	ex = owner_file_read(cli, &f);
	if (ex != 0)
		return ex;
	owner_scan(f.text, &s);
	kw_wipefree(f.text);
	return 0;
}

int cli_policy_owner(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "add", "policy owner add", owner_add },
		{ "list", "policy owner list", owner_list },
	};

	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}

void cli_owner_hint(const struct cli *cli, FILE *f, kw_client *c,
                    const char *why)
{
	static const char unnamed[] = "no policy section matches this client";
	char self[PATH_MAX];
	struct ucred cr;

	if (!c || !why || strncmp(why, unnamed, sizeof(unnamed) - 1) != 0 ||
	    !agent_cred(c, &cr) || cr.uid != geteuid() || !cli_self_exe(self))
		return;
	fputs("keyward: this keyward (", f);
	cli_print_clean(f, self);
	fputs(") is not named in the owner policy (" OWNER_FILE
	      "); to let it administer this store, run: ",
	      f);
	cli_print_clean(f, self);
	if (cli->socket) {
		fputs(" --socket ", f);
		cli_print_clean(f, cli->socket);
	}
	fputs(" policy owner add\n", f);
}
