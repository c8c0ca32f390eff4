/*
 * sockcred.h - who wrote what one recvmsg(2) read on a Unix socket, from
 * its control data: the writer's credentials (SCM_CREDENTIALS, with
 * SO_PASSCRED on) and pidfd (SCM_PIDFD, with SO_PASSPIDFD). Used where a
 * client's request is read (peer.h) and where the command spawner's
 * hello is (spawn_msg.h).
 */
#ifndef KW_SOCKCRED_H
#define KW_SOCKCRED_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sockcompat.h"

typedef struct sockcred {
	bool cred; /* SCM_CREDENTIALS came: pid, uid, gid are valid */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int pidfd;   /* the first SCM_PIDFD's descriptor, or -1 */
	bool rights; /* descriptors came (SCM_RIGHTS): all were closed */
} sockcred;

/* Fill *ret from mh's control data. Every descriptor it holds is closed
 * but the pidfd returned, which the caller then owns. */
void sockcred_take(struct msghdr *mh, sockcred *ret);

#endif
