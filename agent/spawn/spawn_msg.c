/*
 * spawn_msg.c - see spawn_msg.h.
 */
#include "spawn_msg.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "keyward.h"
#include "sockcred.h"

static const char *const fail_names[SPAWN_FAIL_COUNT] = {
	"none",   "too many commands", "passwd entry", "pipe", "fork",
	"keeper", "pidfd_open",
};

static const char *const step_names[SPAWN_STEP_COUNT] = {
	"signal mask", "setpgid",   "parent-death signal", "file descriptors",
	"chdir",       "setrlimit", "no_new_privs",        "execve",
};

const char *spawn_fail_name(int fail)
{
	return fail >= 0 && fail < SPAWN_FAIL_COUNT ? fail_names[fail] : "?";
}

const char *spawn_step_name(int step)
{
	return step >= 0 && step < SPAWN_STEP_COUNT ? step_names[step] : "?";
}

int spawn_msg_send(int sock, const void *msg, size_t len, const int *fds,
                   size_t nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(SPAWN_FDS_MAX * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > SPAWN_FDS_MAX)
		return KW_EINVAL;
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? KW_ECLOSED :
		                                               KW_EIO;
	return (size_t)n == len ? 0 : KW_EIO;
}

static size_t msg_len(const union spawn_msg *m, size_t *ret_nfds)
{
	*ret_nfds = 0;
	switch (m->type) {
	case SPAWN_START:
		*ret_nfds = 2;
		return sizeof(struct spawn_start);
	case SPAWN_SIGNAL:
		return sizeof(struct spawn_signal);
	case SPAWN_STARTED:
		return sizeof(struct spawn_started);
	case SPAWN_EXITED:
		return sizeof(struct spawn_exited);
	case SPAWN_NET_START:
		return sizeof(struct spawn_net_start);
	case SPAWN_NET_STARTED:
		*ret_nfds = m->net_started.fail == SPAWN_OK ? 1 : 0;
		return sizeof(struct spawn_net_started);
	case SPAWN_NET_STOP:
		return sizeof(struct spawn_net_stop);
	case SPAWN_NET_STOPPED:
		return sizeof(struct spawn_net_stopped);
	case SPAWN_EXE_READ:
		*ret_nfds = 1;
		return sizeof(struct spawn_exe_read);
	case SPAWN_EXE_INFO:
		if ((m->exe_info.fds & ~(SPAWN_EXE_FD | SPAWN_EXE_MAP)) != 0 ||
		    ((m->exe_info.fds & SPAWN_EXE_FD) && !m->exe_info.known))
			return 0;
		*ret_nfds = (m->exe_info.fds & SPAWN_EXE_FD ? 1u : 0u) +
		            (m->exe_info.fds & SPAWN_EXE_MAP ? 1u : 0u);
		return sizeof(struct spawn_exe_info);
	case SPAWN_HELLO:
		return sizeof(struct spawn_hello);
	default:
		return 0;
	}
}

/* Take the passed fds out of mh into fds; false if there were more than
 * fit (those are closed) or the control data was cut. */
static bool take_fds(struct msghdr *mh, int fds[static SPAWN_FDS_MAX],
                     size_t *ret_n)
{
	size_t n = 0;
	bool ok = (mh->msg_flags & MSG_CTRUNC) == 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (n < SPAWN_FDS_MAX) {
				fds[n++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	*ret_n = n;
	return ok;
}

int spawn_msg_recv(int sock, union spawn_msg *ret,
                   int ret_fds[static SPAWN_FDS_MAX])
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(SPAWN_FDS_MAX * sizeof(int))];
	} ctl;
	/* One byte more than the largest message: a longer one shows as
	 * too long instead of fitting after a cut. */
	union {
		union spawn_msg m;
		char buf[sizeof(union spawn_msg) + 1];
	} in;
	struct iovec iov = { .iov_base = in.buf, .iov_len = sizeof(in.buf) };
	struct msghdr mh = { .msg_iov = &iov,
		             .msg_iovlen = 1,
		             .msg_control = ctl.buf,
		             .msg_controllen = sizeof(ctl.buf) };
	size_t nfds = 0, want_fds = 0;
	ssize_t n;

	memset(&in, 0, sizeof(in));
	for (size_t i = 0; i < SPAWN_FDS_MAX; i++)
		ret_fds[i] = -1;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN     ? KW_EBUSY :
		       errno == ECONNRESET ? KW_ECLOSED :
		                             KW_EIO;
	bool ok = take_fds(&mh, ret_fds, &nfds);
	if (n == 0 && nfds == 0)
		return KW_ECLOSED;
	bool whole = (mh.msg_flags & MSG_TRUNC) == 0 &&
	             (size_t)n >= sizeof(uint32_t) &&
	             (size_t)n == msg_len(&in.m, &want_fds);
	if (ok && whole && nfds == want_fds) {
		memcpy(ret, &in.m, (size_t)n);
		return 0;
	}
	/* A whole message whose fds the kernel could not install (this
	 * process is out of descriptors): the message, without them. */
	if (whole && (mh.msg_flags & MSG_CTRUNC) && nfds < want_fds) {
		for (size_t i = 0; i < SPAWN_FDS_MAX; i++) {
			if (ret_fds[i] >= 0)
				close(ret_fds[i]);
			ret_fds[i] = -1;
		}
		memcpy(ret, &in.m, (size_t)n);
		return KW_ELIMIT;
	}
	for (size_t i = 0; i < SPAWN_FDS_MAX; i++) {
		if (ret_fds[i] >= 0)
			close(ret_fds[i]);
		ret_fds[i] = -1;
	}
	return KW_EPROTO;
}

int spawn_hello_send(int sock)
{
	struct spawn_hello h = { .type = SPAWN_HELLO,
		                 .version = SPAWN_PROTO_VERSION };
	struct ucred cr = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr mh = { .msg_iov = &iov,
		             .msg_iovlen = 1,
		             .msg_control = ctl.buf,
		             .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cr));
	memcpy(CMSG_DATA(c), &cr, sizeof(cr));
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? KW_ECLOSED :
		                                               KW_EIO;
	return (size_t)n == sizeof(h) ? 0 : KW_EIO;
}

/* The credentials and the first pidfd of a HELLO's control data into
 * *from; every other descriptor is closed. false if any SCM_RIGHTS came
 * (a HELLO passes none) or the control data was cut. */
static bool hello_control(struct msghdr *mh, spawn_sender *from)
{
	sockcred sc;

	sockcred_take(mh, &sc);
	from->cred = sc.cred;
	from->pid = sc.pid;
	from->uid = sc.uid;
	from->gid = sc.gid;
	from->pidfd = sc.pidfd;
	return (mh->msg_flags & MSG_CTRUNC) == 0 && !sc.rights;
}

int spawn_hello_recv(int sock, struct spawn_hello *ret, spawn_sender *ret_from)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
		         CMSG_SPACE(sizeof(int)) +
		         CMSG_SPACE(SPAWN_FDS_MAX * sizeof(int))];
	} ctl;
	union {
		struct spawn_hello h;
		char buf[sizeof(struct spawn_hello) + 1];
	} in;
	struct iovec iov = { .iov_base = in.buf, .iov_len = sizeof(in.buf) };
	struct msghdr mh = { .msg_iov = &iov,
		             .msg_iovlen = 1,
		             .msg_control = ctl.buf,
		             .msg_controllen = sizeof(ctl.buf) };
	spawn_sender from = { .pidfd = -1 };
	ssize_t n;

	memset(&in, 0, sizeof(in));
	memset(&ctl, 0, sizeof(ctl));
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN     ? KW_EBUSY :
		       errno == ECONNRESET ? KW_ECLOSED :
		                             KW_EIO;
	bool ok = hello_control(&mh, &from);
	if (n == 0 && ok && !from.cred && from.pidfd < 0)
		return KW_ECLOSED;
	if (!ok || (mh.msg_flags & MSG_TRUNC) != 0 ||
	    (size_t)n != sizeof(in.h) || in.h.type != SPAWN_HELLO) {
		if (from.pidfd >= 0)
			close(from.pidfd);
		return KW_EPROTO;
	}
	*ret = in.h;
	*ret_from = from;
	return 0;
}
