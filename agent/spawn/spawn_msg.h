/*
 * spawn_msg.h - the messages between keywardd and its command spawner
 * (spawner.h), over a SOCK_SEQPACKET socketpair: one message a packet,
 * fixed-size structs of one host, so each has exactly one valid length.
 *
 *   agent -> spawner  SPAWN_START   id, path, cpu limit; two fds: the
 *                                   command's stdin (read end of a pipe)
 *                                   and its stdout/stderr (write end)
 *   agent -> spawner  SPAWN_SIGNAL  id, SIGTERM or SIGKILL for its group
 *   spawner -> agent  SPAWN_STARTED id, pid and group, or why it did not
 *                                   start (one STARTED for every START, in
 *                                   order, before the next START is read)
 *   spawner -> agent  SPAWN_EXITED  id, how the command ended; its group
 *                                   has been killed and the leader reaped
 *   agent -> spawner  SPAWN_NET_START  id, path of keyward-net: start it
 *                                   (ending the one running, if any)
 *   spawner -> agent  SPAWN_NET_STARTED id, its pid and, as the one fd,
 *                                   the agent's end of its socketpair; or
 *                                   why it did not start (then no fd)
 *   agent -> spawner  SPAWN_NET_STOP   id, pid: kill it if it still runs
 *                                   and reap it
 *   spawner -> agent  SPAWN_NET_STOPPED id, how it ended (known 0: that
 *                                   pid was not the spawner's helper)
 *   agent -> spawner  SPAWN_EXE_READ id, what to open; one fd: a client's
 *                                   /proc/PID directory (O_PATH)
 *   spawner -> agent  SPAWN_EXE_INFO id, the client's executable
 *                                   (procexe_read), and the fds asked
 *                                   for that could be opened: the
 *                                   executable, then /proc/PID/maps
 *                                   (procexe.h)
 *   spawner -> agent  SPAWN_HELLO   version, with SCM_CREDENTIALS of the
 *                                   spawner itself: the first message of a
 *                                   spawner the agent connected to
 *                                   (keywardd --spawner, spawn_peer.h)
 *   agent -> spawner  SPAWN_HELLO   version: the agent checked that
 *                                   spawner and will use it; the spawner
 *                                   reads nothing else before it
 *
 * A spawner forked by the agent (a socketpair) sends and gets no HELLO;
 * once the HELLOs are exchanged, either side refuses another.
 *
 * keyward-net (agent/net/) is the spawner's child, not the key holder's:
 * once confined, the key holder can neither fork nor exec, so every
 * start of the helper, the first included, goes through the spawner.
 * The NET answers come in order, like STARTED, before the next request is
 * read.
 *
 * SPAWN_EXE_READ: under Landlock the key holder cannot read a client's
 * /proc/PID/exe (a ptrace-read of a process outside its domain), so it
 * passes the client's /proc directory to the spawner, which is not
 * confined and reads it (procexe.h). The directory descriptor is bound
 * to that process: a request can name no other.
 *
 * The rotator's input (which holds the new secret) goes from the agent
 * into the stdin pipe directly: it never passes through the spawner.
 */
#ifndef KW_SPAWN_MSG_H
#define KW_SPAWN_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procgroup.h"

#define SPAWN_PATH_MAX 4096u
#define SPAWN_FDS_MAX  2u
/* Of these messages, in SPAWN_HELLO. Both sides are one executable, so
 * a mismatch means the spawner runs another build. */
#define SPAWN_PROTO_VERSION 1u
/* How long either side of a connection to a spawner service waits for
 * the other's SPAWN_HELLO (for keywardd this includes the service
 * manager starting the spawner). */
#define SPAWN_HELLO_MS 5000

enum spawn_type {
	SPAWN_START = 1,
	SPAWN_SIGNAL,
	SPAWN_STARTED,
	SPAWN_EXITED,
	SPAWN_NET_START,
	SPAWN_NET_STARTED,
	SPAWN_NET_STOP,
	SPAWN_NET_STOPPED,
	SPAWN_EXE_READ,
	SPAWN_EXE_INFO,
	SPAWN_HELLO,
};

/* Why a START did not run (spawn_started.fail), or 0. */
enum spawn_fail {
	SPAWN_OK = 0,
	SPAWN_FAIL_BUSY,   /* SPAWN_JOBS_MAX commands already run */
	SPAWN_FAIL_PASSWD, /* no passwd entry for the uid (HOME, USER) */
	SPAWN_FAIL_PIPE,
	SPAWN_FAIL_FORK,
	SPAWN_FAIL_KEEPER, /* the keeper could not be forked or placed */
	SPAWN_FAIL_PIDFD,
	SPAWN_FAIL_COUNT
};

/* Steps of the command's child before execve (spawn_exited.step). */
enum spawn_step {
	SPAWN_STEP_NONE = -1,
	SPAWN_STEP_SIGNALS = 0,
	SPAWN_STEP_PGID,
	SPAWN_STEP_PDEATHSIG,
	SPAWN_STEP_FDS,
	SPAWN_STEP_CWD,
	SPAWN_STEP_RLIMIT,
	SPAWN_STEP_NO_NEW_PRIVS,
	SPAWN_STEP_EXEC,
	SPAWN_STEP_COUNT
};

struct spawn_start {
	uint32_t type, id;
	uint32_t cpu_seconds;      /* RLIMIT_CPU of the command, > 0 */
	char path[SPAWN_PATH_MAX]; /* absolute, NUL-terminated */
};

struct spawn_signal {
	uint32_t type, id;
	int32_t sig;
};

struct spawn_started {
	uint32_t type, id;
	int32_t fail; /* enum spawn_fail */
	int32_t err;  /* errno of the failure, or 0 */
	int32_t pid;
	int32_t group_known; /* 0: /proc could not name the group */
	procgroup group;
};

struct spawn_exited {
	uint32_t type, id;
	int32_t code;   /* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
	int32_t status; /* exit status or signal */
	int32_t step;   /* enum spawn_step: a failure before execve */
	int32_t err;    /* its errno */
};

struct spawn_net_start {
	uint32_t type, id;
	char path[SPAWN_PATH_MAX]; /* absolute, NUL-terminated */
};

struct spawn_net_started {
	uint32_t type, id;
	int32_t fail; /* enum spawn_fail: PIPE (socketpair) or FORK */
	int32_t err;
	int32_t pid;
};

struct spawn_net_stop {
	uint32_t type, id;
	int32_t pid;
};

struct spawn_net_stopped {
	uint32_t type, id;
	int32_t known;  /* 0: not the helper the spawner runs */
	int32_t code;   /* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
	int32_t status; /* exit status or signal */
};

/* What an EXE_READ asks for, and an EXE_INFO carries (fds in this
 * order). */
#define SPAWN_EXE_FD  1u /* the executable, open for reading */
#define SPAWN_EXE_MAP 2u /* /proc/PID/maps, to notice an exec */

struct spawn_exe_read {
	uint32_t type, id;
	uint32_t want; /* SPAWN_EXE_FD | SPAWN_EXE_MAP */
};

struct spawn_exe_info {
	uint32_t type, id;
	int32_t known; /* path and the file's identity are valid */
	uint32_t fds;  /* which of want came: SPAWN_EXE_FD only if known */
	uint64_t dev, ino;
	int64_t size, mtime_sec, mtime_nsec;
	char path[SPAWN_PATH_MAX]; /* NUL-terminated; "" unless known */
};

struct spawn_hello {
	uint32_t type;
	uint32_t version; /* SPAWN_PROTO_VERSION */
};

union spawn_msg {
	uint32_t type;
	struct spawn_start start;
	struct spawn_signal signal;
	struct spawn_started started;
	struct spawn_exited exited;
	struct spawn_net_start net_start;
	struct spawn_net_started net_started;
	struct spawn_net_stop net_stop;
	struct spawn_net_stopped net_stopped;
	struct spawn_exe_read exe_read;
	struct spawn_exe_info exe_info;
	struct spawn_hello hello;
};

/* Who sent a SPAWN_HELLO, as the kernel attached it (spawn_hello_recv). */
typedef struct spawn_sender {
	bool cred; /* SCM_CREDENTIALS came with it (SO_PASSCRED was on) */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int pidfd; /* SCM_PIDFD (SO_PASSPIDFD, Linux 6.5+), or -1 */
} spawn_sender;

/* The name of a failure or step, for messages ("?" if out of range). */
const char *spawn_fail_name(int fail);
const char *spawn_step_name(int step);

/*
 * Send one message (len: the size of its struct) with nfds fds (copies
 * are passed; the caller keeps its own). Blocks until sent. 0; KW_ECLOSED
 * (the peer is gone); KW_EIO.
 */
int spawn_msg_send(int sock, const void *msg, size_t len, const int *fds,
                   size_t nfds);
/*
 * Receive one message into *ret and its fds into ret_fds (unused slots
 * -1; the caller owns them, close-on-exec). The message is checked to be
 * of a known type, exactly that type's length, with exactly its number of
 * fds (START two, a NET_STARTED without a failure one, an EXE_READ one,
 * an EXE_INFO one per bit of its fds, the rest none);
 * anything else is refused and its fds
 * closed. 0; KW_EBUSY (nonblocking socket, nothing ready); KW_ECLOSED
 * (the peer closed its end); KW_EPROTO (refused); KW_ELIMIT (a whole
 * message, in *ret, whose fds this process had no room for: none are
 * returned); KW_EIO.
 */
int spawn_msg_recv(int sock, union spawn_msg *ret,
                   int ret_fds[static SPAWN_FDS_MAX]);

/*
 * Send a SPAWN_HELLO of SPAWN_PROTO_VERSION with SCM_CREDENTIALS naming
 * this process (getpid, getuid, getgid; the kernel refuses ids the sender
 * does not hold). 0; KW_ECLOSED; KW_EIO.
 */
int spawn_hello_send(int sock);
/*
 * Receive one message that must be a SPAWN_HELLO: exactly its length and
 * no fds (passed ones are closed and the message refused). *ret_from says
 * who sent it; its pidfd, if any, is the caller's to close (close-on-exec)
 * and is -1 on every failure. The version is the caller's to judge.
 * 0; KW_EBUSY (nonblocking socket, nothing ready); KW_ECLOSED; KW_EPROTO
 * (anything else arrived); KW_EIO.
 */
int spawn_hello_recv(int sock, struct spawn_hello *ret, spawn_sender *ret_from);

#endif
