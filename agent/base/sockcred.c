/*
 * sockcred.c - see sockcred.h.
 */
#include "sockcred.h"

#include <string.h>
#include <unistd.h>

void sockcred_take(struct msghdr *mh, sockcred *ret)
{
	*ret = (sockcred){ .pidfd = -1 };
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			ret->cred = true;
			ret->pid = uc.pid;
			ret->uid = uc.uid;
			ret->gid = uc.gid;
			continue;
		}
		if ((cm->cmsg_type != SCM_RIGHTS &&
		     cm->cmsg_type != SCM_PIDFD) ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		if (cm->cmsg_type == SCM_RIGHTS)
			ret->rights = true;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (fd < 0)
				continue;
			if (cm->cmsg_type == SCM_PIDFD && ret->pidfd < 0)
				ret->pidfd = fd;
			else
				close(fd);
		}
	}
}
