/*
 * spawn_client.h - keywardd's side of the command spawner (spawner.h):
 * start it, ask it to start and signal commands and to start and stop
 * keyward-net, hear how commands ended.
 *
 * Starting a command is a round trip (the spawner answers with the pid
 * and group before it reads anything else), so its group is known when
 * spawn_command returns. Exits come back through the loop. Starting and
 * stopping keyward-net are round trips too.
 *
 * The spawner is forked once, before any key exists, and never started
 * again: the key holder confines itself afterwards (sandbox.h) and can
 * then neither fork nor exec. If it dies (or sends something malformed,
 * which ends it), every command in flight is reported lost (its keeper
 * kills its group, the caller kills what is left: procgroup_kill),
 * keyward-net dies with it (its parent-death signal), the death is logged,
 * and the owner's spawn_lost_fn is called: keywardd then stops in order
 * and exits for its service manager to start it again (keywardd(8)).
 */
#ifndef KW_SPAWN_CLIENT_H
#define KW_SPAWN_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "procexe.h"
#include "procgroup.h"

/* How long spawn_command waits for the spawner's answer to a start. */
#define SPAWN_ANSWER_MS 10000

typedef struct spawn_client spawn_client;

/* How a command ended. lost: the spawner died first (the rest is 0). */
typedef struct spawn_exit {
	bool lost;
	int code;   /* CLD_EXITED, CLD_KILLED or CLD_DUMPED */
	int status; /* exit status or signal */
	int step;   /* enum spawn_step, or SPAWN_STEP_NONE */
	int err;    /* errno of that step */
} spawn_exit;

/*
 * Called once per started command, on the loop thread: from the loop, or
 * from inside a later spawn_command or spawn_signal (which read the
 * socket meanwhile). It must therefore only record the result and defer
 * the work (rotcmd arms a timer). ex is valid during the call only.
 */
typedef void (*spawn_exit_fn)(void *arg, const spawn_exit *ex);

typedef struct spawn_info {
	uint32_t id;
	pid_t pid;
	bool group_known;
	procgroup group;
} spawn_info;

/*
 * Fork the spawner now. Call before any thread starts and before any key
 * or secret is read: the child keeps a copy of this process's memory
 * until it execs nothing (it runs spawner_run). 0; KW_ENOMEM; KW_EIO.
 *
 * With KEYWARD_SPAWNER_SOCKET set (a service manager runs the spawner in
 * a unit of its own: spawn_service.h), connect to that socket instead and
 * check the spawner's SPAWN_HELLO (spawn_msg.h) before anything else goes
 * to it: its SCM_CREDENTIALS must name our uid and a live process running
 * this very executable (spawn_peer.h). Every failure is logged saying
 * what was wrong. KW_EINVAL (not an absolute path that fits a socket
 * address); KW_EIO (nothing to connect to, or no HELLO within
 * SPAWN_HELLO_MS); KW_EPERM (a peer that is not our spawner). Such a
 * spawner is not our child: spawn_client_free and its death reap nothing.
 */
int spawn_client_new(spawn_client **ret);
/* Watch the spawner's socket in l (for exits and its death). 0; KW_EIO. */
int spawn_client_attach(spawn_client *c, loop *l);
/* The running spawner's pid, 0 if none. */
pid_t spawn_client_pid(const spawn_client *c);

/* Called once, on the loop thread, when the spawner has died and every
 * command in flight was reported lost. It may be called from inside
 * spawn_command, spawn_net_start and the others: it must only record. */
typedef void (*spawn_lost_fn)(void *arg);
void spawn_client_on_lost(spawn_client *c, spawn_lost_fn fn, void *arg);

/*
 * Start path (absolute) with in_fd as its stdin and out_fd as its stdout
 * and stderr (the caller keeps and closes its fds), RLIMIT_CPU of
 * cpu_seconds (> 0). fn(arg, ...) hears its end. 0 and *ret; KW_EINVAL;
 * KW_EBUSY (the spawner died, see above); KW_ELIMIT
 * (too many commands); KW_EIO (the spawner could not start it: *ret_why
 * says what, e.g. "fork: Resource temporarily unavailable"; or the
 * spawner died).
 */
int spawn_command(spawn_client *c, const char *path, int in_fd, int out_fd,
                  unsigned cpu_seconds, spawn_exit_fn fn, void *arg,
                  spawn_info *ret, char *ret_why, size_t why_size);
/* SIGTERM or SIGKILL to the group of command id. A command that has
 * ended meanwhile is not an error. 0; KW_EINVAL; KW_EIO (no spawner). */
int spawn_signal(spawn_client *c, uint32_t id, int sig);
/* Kill command id's group, wait until the spawner has reaped it (at most
 * SPAWN_ANSWER_MS), and never call its fn. Unknown ids ok. */
void spawn_forget(spawn_client *c, uint32_t id);
/*
 * Start keyward-net at path (absolute) through the spawner, ending the
 * one it runs, if any. 0 with *ret_fd (our end of its socketpair,
 * close-on-exec, blocking) and *ret_pid; KW_EINVAL; KW_EIO (*ret_why says
 * why: the spawner is gone, or its socketpair or fork failed). An exec
 * that fails shows as a helper that exits at once with status 127.
 */
int spawn_net_start(spawn_client *c, const char *path, int *ret_fd,
                    pid_t *ret_pid, char *ret_why, size_t why_size);
/*
 * Kill keyward-net pid if it still runs and have the spawner reap it.
 * 0 with how it ended (*ret_code CLD_EXITED, CLD_KILLED or CLD_DUMPED,
 * *ret_status the status or signal); KW_ENOTFOUND (not the spawner's
 * helper); KW_EIO (no spawner: the helper died with it).
 */
int spawn_net_stop(spawn_client *c, pid_t pid, int *ret_code, int *ret_status);
/*
 * Have the spawner read the executable of the process whose /proc/PID
 * directory procfd is (the key holder cannot under Landlock: peer.h,
 * procexe.h). The shape of a peer_exe_broker_fn: path and *ret_id as
 * procexe_read fills them; with ret_exe_fd the executable opened for
 * reading, with ret_maps_fd its maps (-1 each when not opened). 0 when
 * known; KW_ENOTFOUND when not; KW_EINVAL; KW_EIO (no spawner, or it
 * sent something malformed and was ended).
 */
int spawn_exe_read(spawn_client *c, int procfd, char path[static PATH_MAX],
                   procexe_id *ret_id, int *ret_exe_fd, int *ret_maps_fd);
/*
 * Close the socket and wait for the spawner to exit: it kills the group
 * of every command still running first. Pending fns are not called. NULL
 * ok.
 */
void spawn_client_free(spawn_client *c);

#endif
