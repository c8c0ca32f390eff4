/*
 * procgroup.c - see procgroup.h.
 */
#include "procgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keyward.h"

#define PROCGROUP_WAIT_MS 2000
#define PROCGROUP_POLL_MS 10

struct proc_info {
	char state;
	pid_t pgrp, sid;
	unsigned long long start; /* clock ticks after boot */
	uid_t uid;
};

/* /proc/<name>/stat of one process, read under procfd. */
static int proc_read(int procfd, const char *name, struct proc_info *ret)
{
	char path[32], buf[1024];
	struct stat st;
	int fd;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/stat", name) >= (int)sizeof(path))
		return KW_EINVAL;
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? KW_ENOTFOUND :
		                                           KW_EIO;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return KW_EIO;
	}
	do {
		n = read(fd, buf, sizeof(buf) - 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
	/* An empty read: the process went between open and read. */
	if (n <= 0)
		return n == 0 || errno == ESRCH ? KW_ENOTFOUND : KW_EIO;
	buf[n] = '\0';
	/* The name in parentheses may hold anything, ')' included: the
	 * fields start after the last one. state is field 3, pgrp 5,
	 * session 6, starttime 22. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return KW_EIO;
	ret->state = p[2];
	p += 3;
	long long f[20];
	for (int i = 4; i <= 22; i++) {
		char *end = NULL;
		errno = 0;
		f[i - 4] = strtoll(p, &end, 10);
		if (end == p || errno != 0 || (*end != ' ' && *end != '\0'))
			return KW_EIO;
		p = end;
	}
	if (f[5 - 4] <= 0 || f[6 - 4] < 0 || f[22 - 4] < 0)
		return KW_EIO;
	ret->pgrp = (pid_t)f[5 - 4];
	ret->sid = (pid_t)f[6 - 4];
	ret->start = (unsigned long long)f[22 - 4];
	ret->uid = st.st_uid;
	return 0;
}

static int boot_id(char ret[static PROCGROUP_BOOT_ID_LEN + 1])
{
	char buf[PROCGROUP_BOOT_ID_LEN + 2];
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return KW_EIO;
	do {
		n = read(fd, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n != PROCGROUP_BOOT_ID_LEN + 1 ||
	    buf[PROCGROUP_BOOT_ID_LEN] != '\n')
		return KW_EIO;
	memcpy(ret, buf, PROCGROUP_BOOT_ID_LEN);
	ret[PROCGROUP_BOOT_ID_LEN] = '\0';
	return 0;
}

/* The group led by pid (our child, not reaped). */
int procgroup_identify(pid_t pid, procgroup *ret)
{
	struct proc_info pi;
	char name[16];
	int procfd, r;

	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return KW_EIO;
	snprintf(name, sizeof(name), "%d", (int)pid);
	r = proc_read(procfd, name, &pi);
	close(procfd);
	if (r < 0)
		return r;
	ret->pgid = pid;
	ret->start = (uint64_t)pi.start;
	ret->sid = pi.sid;
	return boot_id(ret->boot);
}

/*
 * Scan /proc for g's group. ret_ours: the group is still the one g
 * names; ret_live: it has a member that is not a zombie.
 *
 * While its leader lives (a zombie included) the leader's start time
 * decides. Once the leader is gone its pid, and so the group id, is
 * reserved only while a member lives; so each member must look like one
 * of ours: same uid, same session, started no earlier than the leader. A
 * group that a stranger of our uid made in our session with a reused id,
 * after ours had emptied, would pass; that is the limit of the check.
 */
static int group_scan(const procgroup *g, bool *ret_ours, bool *ret_live)
{
	bool leader = false, leader_ours = false, members_ours = true;
	bool live = false;
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (procfd < 0)
		return KW_EIO;
	d = fdopendir(procfd);
	if (!d) {
		close(procfd);
		return KW_EIO;
	}
	while ((e = readdir(d)) != NULL) {
		struct proc_info pi;
		char *end = NULL;
		errno = 0;
		long long pid = strtoll(e->d_name, &end, 10);
		if (end == e->d_name || *end != '\0' || errno != 0 || pid <= 0)
			continue;
		if (proc_read(procfd, e->d_name, &pi) < 0)
			continue; /* gone meanwhile, or not ours to read */
		if (pid == g->pgid) {
			leader = true;
			leader_ours = pi.pgrp == g->pgid &&
			              pi.start == g->start &&
			              pi.uid == geteuid();
		}
		if (pi.pgrp != g->pgid)
			continue;
		if (pi.state != 'Z')
			live = true;
		if (pi.sid != g->sid || pi.start < g->start ||
		    pi.uid != geteuid())
			members_ours = false;
	}
	closedir(d);
	*ret_ours = leader ? leader_ours : members_ours;
	*ret_live = live;
	return 0;
}

int procgroup_kill(const procgroup *g, bool *ret_killed)
{
	char boot[PROCGROUP_BOOT_ID_LEN + 1];
	bool ours = false, live = false;
	int r;

	if (!g || g->pgid <= 1 || !ret_killed)
		return KW_EINVAL;
	if ((r = boot_id(boot)) < 0)
		return r;
	/* Another boot: everything of the old one is gone. */
	if (strcmp(boot, g->boot) != 0) {
		*ret_killed = false;
		return 0;
	}
	if ((r = group_scan(g, &ours, &live)) < 0)
		return r;
	if (!ours || !live) {
		*ret_killed = false;
		return 0;
	}
	if (killpg((pid_t)g->pgid, SIGKILL) != 0 && errno != ESRCH)
		return KW_EIO;
	/* SIGKILL takes effect at the next scheduling of each member; wait
	 * for that, so that what follows cannot overlap with them. */
	for (int i = 0; i < PROCGROUP_WAIT_MS / PROCGROUP_POLL_MS; i++) {
		if ((r = group_scan(g, &ours, &live)) < 0)
			return r;
		if (!live) {
			*ret_killed = true;
			return 0;
		}
		struct timespec ts = { 0, PROCGROUP_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	return KW_ETIMEOUT;
}
