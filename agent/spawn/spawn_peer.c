/*
 * spawn_peer.c - see spawn_peer.h.
 */
#include "spawn_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyward.h"
#include "pidfd.h"

#define PROC_PATH_MAX 64

int spawn_peer_same_exe(pid_t pid, int pidfd, char *why, size_t why_size)
{
	char path[PROC_PATH_MAX];
	struct stat ours, theirs;

	if (pid <= 0) {
		snprintf(why, why_size, "no pid");
		return KW_EDENIED;
	}
	if (pidfd < 0) {
		snprintf(why, why_size, "no pidfd of pid %d (it has exited)",
		         (int)pid);
		return KW_EDENIED;
	}
	if (stat("/proc/self/exe", &ours) != 0) {
		snprintf(why, why_size, "/proc/self/exe: %s", strerror(errno));
		return KW_EIO;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &theirs) != 0) {
		int e = errno;
		snprintf(why, why_size, "%s: %s", path, strerror(e));
		return e == EACCES || e == EPERM ? KW_EPERM :
		       e == ENOENT || e == ESRCH ? KW_EDENIED :
		                                   KW_EIO;
	}
	if (theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino) {
		snprintf(why, why_size,
		         "pid %d does not run this keywardd's executable",
		         (int)pid);
		return KW_EDENIED;
	}
	/* Alive after the read: the number was its own throughout. */
	if (!pidfd_alive(pidfd)) {
		snprintf(why, why_size, "pid %d ended while it was checked",
		         (int)pid);
		return KW_EDENIED;
	}
	return 0;
}
