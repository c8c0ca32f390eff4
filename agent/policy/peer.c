/*
 * peer.c - who is on the other end of a Unix socket (see peer.h).
 *
 * The executable is read through the peer's /proc/PID directory, opened
 * once and bound to the peer's process, so a recycled pid cannot lend its
 * binary to a peer that has gone. That directory is opened for the pid
 * SO_PEERCRED gave only while the peer's pidfd shows it alive or,
 * without a pidfd, its start time is the same before and after.
 */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <sodium.h>

#include "keyward.h"
#include "pidfd.h"
#include "sockcred.h"

/* statfs f_type of pidfs (Linux 6.9, include/uapi/linux/magic.h). */
#define KW_PIDFS_MAGIC 0x50494446
/* File descriptors a peer may push at us in one read (SCM_RIGHTS); what
 * does not fit is discarded by the kernel. */
#define RECV_FDS_MAX 4

#define PROC_PATH_MAX   64
#define HASH_CHUNK      (64 * 1024)
#define CACHE_MAX       4096
#define PROC_STAT_BYTES 4096

_Static_assert(crypto_hash_sha256_BYTES == 32, "digest size");

static int proc_path(char buf[static PROC_PATH_MAX], pid_t pid,
                     const char *leaf)
{
	int n = snprintf(buf, PROC_PATH_MAX, "/proc/%ld/%s", (long)pid, leaf);

	return n > 0 && n < PROC_PATH_MAX ? 0 : KW_EINVAL;
}

/* Field 22 (starttime) of /proc/PID/stat. The command name (field 2) is in
 * parentheses and may itself hold ')' and spaces, so fields are counted
 * from the last ')'. */
static int proc_start_time(pid_t pid, unsigned long long *ret_start)
{
	char path[PROC_PATH_MAX];
	char buf[PROC_STAT_BYTES];
	const char *p;
	char *end;
	unsigned long long v;
	size_t len = 0;
	int fd;

	if (proc_path(path, pid, "stat") < 0)
		return KW_EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KW_ENOTFOUND;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return KW_EIO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';

	p = strrchr(buf, ')');
	if (!p)
		return KW_EIO;
	p++;
	/* After ')' come fields 3, 4, ...: skip 19 of them to reach 22. */
	for (int field = 3; field < 22; field++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
		if (!*p)
			return KW_EIO;
	}
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return KW_EIO;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
		return KW_EIO;
	*ret_start = v;
	return 0;
}

static peer_exe_broker_fn broker;
static void *broker_arg;

void peer_set_exe_broker(peer_exe_broker_fn fn, void *arg)
{
	broker = fn;
	broker_arg = arg;
}

/* Fill p's exe fields, or leave exe_known false (procexe_read says when
 * it fails closed). Through the broker where the process is confined:
 * then also the maps descriptor that shows an exec (procexe.h). */
static void exe_read(peer_info *p)
{
	p->exe_known = false;
	p->exe[0] = '\0';
	p->seen = false;
	if (p->maps_fd >= 0)
		close(p->maps_fd);
	p->maps_fd = -1;
	if (p->procfd < 0)
		return;
	if (broker) {
		/* Without the maps an exec would go unseen: unknown. */
		p->exe_known = broker(broker_arg, p->procfd, p->exe, &p->exe_id,
		                      NULL, &p->maps_fd) == 0 &&
		               p->maps_fd >= 0;
	} else {
		p->seen = procexe_stat(p->procfd, &p->seen_id) == 0;
		p->exe_known = procexe_read(p->procfd, p->exe, &p->exe_id) == 0;
	}
	if (!p->exe_known)
		p->exe[0] = '\0';
}

/* On pidfs each process has its own inode: note it, to compare writers'
 * pidfds with. On older kernels all pidfds share one anonymous inode. */
static void pidfd_identity(peer_info *p)
{
	struct statfs fs;
	struct stat st;

	if (p->pidfd < 0 || fstatfs(p->pidfd, &fs) < 0 ||
	    fs.f_type != KW_PIDFS_MAGIC || fstat(p->pidfd, &st) < 0)
		return;
	p->pidfd_pidfs = true;
	p->pidfd_dev = st.st_dev;
	p->pidfd_ino = st.st_ino;
}

/*
 * /proc/PID of the peer, or -1. The number may have been reused between
 * connect and the open: the pidfd's process still being alive afterwards
 * (it held the number throughout), or without a pidfd the same start time
 * before and after, shows the directory is the peer's.
 */
static int proc_open(const peer_info *p)
{
	char path[PROC_PATH_MAX];
	unsigned long long start0 = 0, start1 = 0;
	int fd;

	if (p->pid <= 0 || proc_path(path, p->pid, "") < 0)
		return -1;
	if (p->pidfd < 0 && proc_start_time(p->pid, &start0) < 0)
		return -1;
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (p->pidfd >= 0 ?
	            !pidfd_alive(p->pidfd) :
	            proc_start_time(p->pid, &start1) < 0 || start1 != start0) {
		close(fd);
		return -1;
	}
	return fd;
}

int peer_from_socket(int fd, peer_info *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int on = 1;
	bool gone;

	if (!ret)
		return KW_EINVAL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred))
		return KW_EIO;
	/* Without per-read credentials no request could be bound to the
	 * connection's process. */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
		return KW_EIO;

	memset(ret, 0, sizeof(*ret));
	ret->uid = cred.uid;
	ret->gid = cred.gid;
	ret->pid = cred.pid;
	ret->procfd = -1;
	ret->maps_fd = -1;
	ret->pidfd = pidfd_of_peer(fd, &gone);
	if (gone)
		return 0;
	pidfd_identity(ret);
	ret->procfd = proc_open(ret);
	/* The directory is bound to the process from here on, and the
	 * pidfd's identity is noted: one descriptor per connection less. */
	if (ret->procfd >= 0 && ret->pidfd >= 0) {
		close(ret->pidfd);
		ret->pidfd = -1;
	}
	/* A pidfd per read costs a descriptor each time: only where the
	 * process cannot be told by its /proc directory. Kernels without
	 * the option (ENOPROTOOPT) are left to the pidfd's liveness. */
	if (ret->procfd < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on));
	exe_read(ret);
	return 0;
}

void peer_release(peer_info *p)
{
	if (!p)
		return;
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->procfd >= 0)
		close(p->procfd);
	if (p->maps_fd >= 0)
		close(p->maps_fd);
	p->pidfd = p->procfd = p->maps_fd = -1;
}

int peer_listen_setup(int listen_fd)
{
	int on = 1;

	return setsockopt(listen_fd, SOL_SOCKET, SO_PASSCRED, &on,
	                  sizeof(on)) == 0 ?
	               0 :
	               KW_EIO;
}

ssize_t peer_recv(int fd, void *buf, size_t len, peer_sender *ret_from)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
		         CMSG_SPACE(sizeof(int)) +
		         CMSG_SPACE(RECV_FDS_MAX * sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	memset(ret_from, 0, sizeof(*ret_from));
	ret_from->pidfd = -1;
	memset(control.buf, 0, sizeof(control.buf));
	n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n >= 0) {
		sockcred sc;

		sockcred_take(&msg, &sc);
		ret_from->creds = sc.cred;
		ret_from->pid = sc.pid;
		ret_from->uid = sc.uid;
		ret_from->gid = sc.gid;
		ret_from->pidfd = sc.pidfd;
	}
	return n;
}

void peer_sender_release(peer_sender *s)
{
	if (!s || s->pidfd < 0)
		return;
	close(s->pidfd);
	s->pidfd = -1;
}

/* Is the writer's pidfd the connection's process (pidfs inodes)? */
static bool pidfd_same(const peer_info *p, int pidfd)
{
	struct stat st;

	return fstat(pidfd, &st) == 0 && st.st_dev == p->pidfd_dev &&
	       st.st_ino == p->pidfd_ino;
}

/* The writer is p's process (pid equal): is that process still the one
 * that connected, and has it changed its executable? */
static int sender_alive(peer_info *p, const peer_sender *s,
                        bool *ret_exe_changed)
{
	struct stat st;
	procexe_id now;
	bool had = p->exe_known;

	if (p->procfd >= 0 && broker) {
		/* Confined: the link is out of reach, its maps tell an exec
		 * (procexe.h). */
		if (fstatat(p->procfd, "stat", &st, 0) < 0)
			return KW_EDENIED;
		if (p->maps_fd >= 0 && procexe_execd(p->maps_fd)) {
			exe_read(p);
			*ret_exe_changed = had || p->exe_known;
		}
		return 0;
	}
	if (p->procfd >= 0) {
		/* A peer whose executable the agent may not look at (another
		 * uid without ptrace access) is only checked for life. */
		if (!p->seen)
			return fstatat(p->procfd, "stat", &st, 0) == 0 ?
			               0 :
			               KW_EDENIED;
		if (procexe_stat(p->procfd, &now) < 0)
			return KW_EDENIED;
		if (!procexe_id_equal(&now, &p->seen_id)) {
			exe_read(p);
			*ret_exe_changed = had || p->exe_known;
		}
		return 0;
	}
	if (p->pidfd >= 0 && p->pidfd_pidfs && s->pidfd >= 0)
		return pidfd_same(p, s->pidfd) ? 0 : KW_EDENIED;
	if (p->pidfd >= 0)
		return pidfd_alive(p->pidfd) ? 0 : KW_EDENIED;
	return KW_EDENIED;
}

int peer_sender_check(peer_info *p, const peer_sender *s, bool *ret_exe_changed,
                      char *why, size_t whysz)
{
	*ret_exe_changed = false;
	if (!s->creds) {
		snprintf(why, whysz,
		         "the request came without the sender's credentials");
		return KW_EDENIED;
	}
	/* Not compared: uid and gid. SCM_CREDENTIALS carries the real ids,
	 * SO_PEERCRED the effective ones, and a process may drop privileges
	 * after connecting; it is still the same program. */
	if (s->pid != p->pid) {
		snprintf(why, whysz,
		         "the request was sent by process %ld, not by process "
		         "%ld that opened this connection (a connection serves "
		         "one process: a forked child must connect on its own)",
		         (long)s->pid, (long)p->pid);
		return KW_EDENIED;
	}
	if (sender_alive(p, s, ret_exe_changed) < 0) {
		snprintf(why, whysz,
		         "the request was sent under pid %ld, but the process "
		         "that opened this connection has exited (or cannot be "
		         "told apart from a later one of that pid)",
		         (long)p->pid);
		return KW_EDENIED;
	}
	return 0;
}

void peer_exe_of(pid_t pid, char out[static PATH_MAX])
{
	char link[PROC_PATH_MAX];
	ssize_t n;

	out[0] = '\0';
	if (pid <= 0 || proc_path(link, pid, "exe") < 0)
		return;
	n = readlink(link, out, PATH_MAX);
	if (n <= 0 || n >= PATH_MAX) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
}

/* One digest per file version, keyed as peer_info identifies the file. */
struct cache_entry {
	procexe_id id;
	uint64_t used; /* tick of the last lookup; 0: slot empty */
	uint8_t digest[crypto_hash_sha256_BYTES];
};

/* A few distinct executables at most, so a linear scan is cheapest. */
struct exe_hash_cache {
	struct cache_entry *e;
	size_t max;
	uint64_t tick;
	size_t hits;
};

int exe_hash_cache_new(size_t max, exe_hash_cache **ret_cache)
{
	exe_hash_cache *c;

	if (max == 0 || max > CACHE_MAX || !ret_cache)
		return KW_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return KW_ENOMEM;
	c->e = calloc(max, sizeof(*c->e));
	if (!c->e) {
		free(c);
		return KW_ENOMEM;
	}
	c->max = max;
	*ret_cache = c;
	return 0;
}

void exe_hash_cache_free(exe_hash_cache *c)
{
	if (!c)
		return;
	free(c->e);
	free(c);
}

size_t exe_hash_cache_hits(const exe_hash_cache *c)
{
	return c ? c->hits : 0;
}

static bool entry_is(const struct cache_entry *e, const peer_info *p)
{
	return e->used != 0 && procexe_id_equal(&e->id, &p->exe_id);
}

static struct cache_entry *cache_find(exe_hash_cache *c, const peer_info *p)
{
	for (size_t i = 0; i < c->max; i++) {
		if (entry_is(&c->e[i], p)) {
			c->e[i].used = ++c->tick;
			return &c->e[i];
		}
	}
	return NULL;
}

/* An empty slot, else the least recently used one. */
static void cache_insert(exe_hash_cache *c, const peer_info *p,
                         const uint8_t digest[static 32])
{
	struct cache_entry *victim = &c->e[0];

	for (size_t i = 0; i < c->max; i++) {
		if (c->e[i].used < victim->used)
			victim = &c->e[i];
	}
	victim->id = p->exe_id;
	victim->used = ++c->tick;
	memcpy(victim->digest, digest, sizeof(victim->digest));
}

static bool stat_matches(const struct stat *st, const peer_info *p)
{
	const procexe_id id = { .dev = st->st_dev,
		                .ino = st->st_ino,
		                .size = st->st_size,
		                .mtime = st->st_mtim };

	return S_ISREG(st->st_mode) && procexe_id_equal(&id, &p->exe_id);
}

/* p's executable, open for reading, if it is still the version p names
 * (through the broker where this process is confined); or -1. */
static int exe_open(const peer_info *p)
{
	char path[PATH_MAX];
	procexe_id id;
	int fd = -1;

	if (!broker)
		return procexe_open(p->procfd, &p->exe_id);
	if (broker(broker_arg, p->procfd, path, &id, &fd, NULL) < 0 || fd < 0 ||
	    !procexe_id_equal(&id, &p->exe_id) || strcmp(path, p->exe) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Hash exactly size bytes of fd; the file must neither shrink nor grow. */
static int hash_fd(int fd, off_t size, uint8_t out[static 32])
{
	crypto_hash_sha256_state st;
	uint8_t *buf = malloc(HASH_CHUNK);
	uint64_t left = (uint64_t)size;
	uint8_t extra;
	ssize_t n;
	int r = KW_EIO;

	if (!buf)
		return KW_ENOMEM;
	crypto_hash_sha256_init(&st);
	while (left > 0) {
		size_t want = left < HASH_CHUNK ? (size_t)left : HASH_CHUNK;

		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		left -= (uint64_t)n;
	}
	do {
		n = read(fd, &extra, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 0)
		goto out;
	crypto_hash_sha256_final(&st, out);
	r = 0;
out:
	free(buf);
	return r;
}

int peer_exe_sha256(exe_hash_cache *c, const peer_info *p, uint8_t out[32])
{
	uint8_t digest[crypto_hash_sha256_BYTES];
	struct cache_entry *hit;
	struct stat st;
	int fd, r;

	if (!c || !p || !out)
		return KW_EINVAL;
	if (!p->exe_known)
		return KW_ENOTFOUND;
	/* The file the process runs now (procfd is bound to it), checked
	 * to be the version p names. */
	fd = exe_open(p);
	if (fd < 0)
		return KW_ENOTFOUND;

	hit = cache_find(c, p);
	if (hit) {
		c->hits++;
		memcpy(out, hit->digest, sizeof(hit->digest));
		r = 0;
		goto out;
	}
	r = hash_fd(fd, p->exe_id.size, digest);
	if (r < 0)
		goto out;
	/* Written to while we read it: the digest is of no one version. */
	if (fstat(fd, &st) < 0 || !stat_matches(&st, p)) {
		r = KW_EIO;
		goto out;
	}
	cache_insert(c, p, digest);
	memcpy(out, digest, sizeof(digest));
out:
	close(fd);
	return r;
}
