/*
 * netclient.h - the key holder's side of keyward-net (net_main.c), the
 * process that does every HTTP transfer; netmsg.h is the channel.
 *
 * The helper is started by a launcher: the command spawner
 * (spawn_client.h), which forks and execs it before the key holder
 * confines itself and whenever it must start again, so that the key
 * holder itself never forks or execs. It runs over a socketpair: fd 3 in
 * the helper, an empty environment, every other fd closed (0 and 1 on
 * /dev/null, 2 shared for its log), PR_SET_PDEATHSIG so that it dies with
 * the spawner, which dies with keywardd.
 *
 * Supervision: if the helper exits, is killed or breaks the protocol, every
 * request in flight gets its callback with reply NULL and a sentence that
 * says so, the event is logged, and the helper is restarted after a delay
 * that doubles from NETCLIENT_BACKOFF_MIN_MS to NETCLIENT_BACKOFF_MAX_MS
 * (back to the minimum once a helper has lived NETCLIENT_HEALTHY_MS).
 * Requests sent while it is down wait for the restart. A helper that
 * has not answered a request NETCLIENT_GRACE_MS after its timeout (it was
 * stopped, or hangs) is killed and handled the same way.
 *
 * Everything runs on the loop thread. A callback never runs from inside a
 * netclient call, and may call netclient_send and netclient_cancel but must
 * not free the client (defer that, as httpc.c does).
 */
#ifndef KW_NETCLIENT_H
#define KW_NETCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "netmsg.h"

#define NETCLIENT_BACKOFF_MIN_MS 100
#define NETCLIENT_BACKOFF_MAX_MS 10000
#define NETCLIENT_HEALTHY_MS     30000
#define NETCLIENT_GRACE_MS       2000
#define NETCLIENT_PENDING_MAX    256u
#define NETCLIENT_LOST_MAX       160u /* the lost sentence, NUL included */

typedef struct netclient netclient;

/* reply: the helper's NETMSG_RESOLVED or NETMSG_DONE for the request, valid
 * during the call only; NULL if the helper was lost, and then lost says
 * how ("keyward-net was killed by signal 9"). */
typedef void (*netclient_cb)(void *arg, const netmsg *reply, const char *lost);

/*
 * Who starts and ends the helper. start: run the helper at path, 0 with
 * our end of its socketpair in *ret_fd (close-on-exec) and its pid, or a
 * KW_E* code with why (a sentence) filled. stop: kill pid if it still
 * runs and reap it; 0 with its end (*ret_code CLD_EXITED, CLD_KILLED or
 * CLD_DUMPED; *ret_status), or a KW_E* code if that is unknown.
 */
typedef struct netclient_launcher {
	void *ctx;
	int (*start)(void *ctx, const char *path, int *ret_fd, pid_t *ret_pid,
	             char *why, size_t whysz);
	int (*stop)(void *ctx, pid_t pid, int *ret_code, int *ret_status);
} netclient_launcher;

/*
 * Start the helper at helper_path (absolute; copied) on l through launch
 * (copied). 0, KW_EINVAL, KW_ENOMEM, KW_EIO (timerfd, the launcher). An
 * exec that fails shows as a helper that exits at once (status 127), and
 * is restarted as any.
 */
int netclient_new(loop *l, const char *helper_path,
                  const netclient_launcher *launch, netclient **ret_client);

/* Stop the helper (SIGKILL, then reaped), drop every request without a
 * callback, free. NULL ok. */
void netclient_free(netclient *c);

/*
 * Send m (a NETMSG_RESOLVE or NETMSG_HTTP; its id is set here) and call
 * cb(arg, ...) once with the reply, unless netclient_cancel first; the
 * helper is expected to answer within timeout_ms (> 0; an HTTP request's
 * total_ms) of being sent. The frame is encoded now (m may go after the
 * call). *ret_id is the id for netclient_cancel. 0, KW_EINVAL (a field
 * out of bounds), KW_ELIMIT (NETCLIENT_PENDING_MAX in flight), KW_ENOMEM.
 */
int netclient_send(netclient *c, netmsg *m, int timeout_ms, netclient_cb cb,
                   void *arg, uint32_t *ret_id);

/* Forget request id (its callback is never called) and tell the helper to
 * drop the transfer. An id not in flight is ignored. */
void netclient_cancel(netclient *c, uint32_t id);

/* The helper's pid, or 0 while it is down. */
pid_t netclient_pid(const netclient *c);

/*
 * Where keywardd finds keyward-net: beside its own executable (the build
 * tree), else at KW_NET_RELPATH from its directory (an install, with or
 * without DESTDIR). 0 with the path in out, or KW_ENOTFOUND / KW_EIO.
 */
int netclient_helper_path(char *out, size_t outsz);

#endif
