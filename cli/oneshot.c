/*
 * oneshot.c - running keywardd --init and --check-image (see oneshot.h).
 */
#include "oneshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyward.h"

extern char **environ;

/* Most arguments a one-shot mode takes, argv[0] and the NULL included. */
#define ONESHOT_ARGS_MAX 16

/* keywardd beside this executable, into path (PATH_MAX bytes). */
static int find_keywardd(const struct cli *cli, char *path)
{
	ssize_t n = readlink("/proc/self/exe", path, PATH_MAX - 1);
	char *slash;

	if (n <= 0 || n >= PATH_MAX - 1) {
		cli_msg(cli, NULL,
		        "cannot find this program's path in "
		        "/proc/self/exe");
		return CLI_EXIT_ERROR;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) + sizeof("/keywardd") > PATH_MAX) {
		cli_msg(cli, NULL, "this program's path is too long");
		return CLI_EXIT_ERROR;
	}
	memcpy(slash, "/keywardd", sizeof("/keywardd"));
	if (access(path, X_OK) < 0) {
		cli_msg(cli, NULL,
		        "cannot run %s: %s (keyward needs the keywardd "
		        "installed beside it)",
		        path, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* A close-on-exec descriptor above ONESHOT_PASS_FD, so that the child's
 * dup2 onto 1 or 3 never lands on one of the pair itself. */
static int fd_high(int fd)
{
	int high;

	if (fd > ONESHOT_PASS_FD)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, ONESHOT_PASS_FD + 1);
	close(fd);
	return high;
}

static int pair_high(int sv[2], bool stream)
{
	int r = stream ?
	                socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) :
	                pipe2(sv, O_CLOEXEC);

	if (r < 0)
		return -1;
	sv[0] = fd_high(sv[0]);
	sv[1] = fd_high(sv[1]);
	if (sv[0] >= 0 && sv[1] >= 0)
		return 0;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return -1;
}

/* The child's end of each channel in place, stdin from /dev/null. */
static int child_fds(posix_spawn_file_actions_t *fa, const int pass[2],
                     const int out[2])
{
	int r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY,
	                                         0);

	if (r == 0 && pass[1] >= 0)
		r = posix_spawn_file_actions_adddup2(fa, pass[1],
		                                     ONESHOT_PASS_FD);
	if (r == 0 && out[1] >= 0)
		r = posix_spawn_file_actions_adddup2(fa, out[1], 1);
	return r;
}

static int spawn(const char *path, const char *const *args, const int pass[2],
                 const int out[2], pid_t *ret_pid)
{
	char *argv[ONESHOT_ARGS_MAX];
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	int r;

	argv[n++] = (char *)path;
	for (; args[n - 1] && n < ONESHOT_ARGS_MAX - 1; n++)
		argv[n] = (char *)args[n - 1];
	if (args[n - 1])
		return E2BIG;
	argv[n] = NULL;
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return r;
	r = child_fds(&fa, pass, out);
	if (r == 0)
		r = posix_spawn(ret_pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

int oneshot_start(const struct cli *cli, const char *const *args,
                  bool with_pass, bool with_out, struct oneshot *ret)
{
	char path[PATH_MAX];
	int pass[2] = { -1, -1 }, out[2] = { -1, -1 };
	int ex, r;

	ex = find_keywardd(cli, path);
	if (ex != 0)
		return ex;
	if ((with_pass && pair_high(pass, true) < 0) ||
	    (with_out && pair_high(out, false) < 0)) {
		cli_msg(cli, NULL, "cannot make a channel to keywardd: %s",
		        strerror(errno));
		ex = CLI_EXIT_ERROR;
		goto out;
	}
	memset(ret, 0, sizeof(*ret));
	r = spawn(path, args, pass, out, &ret->pid);
	if (r != 0) {
		cli_msg(cli, NULL, "cannot run %s: %s", path, strerror(r));
		ex = CLI_EXIT_ERROR;
		goto out;
	}
	ret->pass = pass[0];
	ret->out = out[0];
	pass[0] = out[0] = -1;
	ex = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (pass[i] >= 0)
			close(pass[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return ex;
}

int oneshot_send_pass(struct oneshot *o, const char *pass, size_t len)
{
	int r = 0;

	for (size_t off = 0; off <= len && r == 0;) {
		const char *p = off < len ? pass + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = send(o->pass, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			r = KW_EIO;
		else
			off += (size_t)w;
	}
	close(o->pass);
	o->pass = -1;
	return r;
}

char *oneshot_line(struct oneshot *o)
{
	char *nl;

	memmove(o->buf, o->buf + o->used, o->len - o->used);
	o->len -= o->used;
	o->used = 0;
	while (!(nl = memchr(o->buf, '\n', o->len)) &&
	       o->len < sizeof(o->buf) - 1 && o->out >= 0) {
		ssize_t n = read(o->out, o->buf + o->len,
		                 sizeof(o->buf) - 1 - o->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(o->out);
			o->out = -1;
			break;
		}
		o->len += (size_t)n;
	}
	if (o->len == 0)
		return NULL;
	/* A last line without newline, or one longer than buf: as it is. */
	o->used = nl ? (size_t)(nl - o->buf) + 1 : o->len;
	o->buf[nl ? (size_t)(nl - o->buf) : o->len] = '\0';
	return o->buf;
}

int oneshot_finish(struct oneshot *o)
{
	int status;
	pid_t r;

	if (o->pass >= 0)
		close(o->pass);
	if (o->out >= 0)
		close(o->out);
	o->pass = o->out = -1;
	do
		r = waitpid(o->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}
