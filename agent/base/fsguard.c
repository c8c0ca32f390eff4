/*
 * fsguard.c - see fsguard.h.
 */
#include "fsguard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "keyward.h"

/* lstat, so that a symlink put in place of the path is not followed. */
static int guard_lstat(const char *path, struct stat *st, char *why,
                       size_t whysz)
{
	if (lstat(path, st) == 0)
		return 0;
	snprintf(why, whysz, "%s: %s", path, strerror(errno));
	return errno == ENOENT ? KW_ENOTFOUND : KW_EIO;
}

static int guard_owner(const char *path, const struct stat *st, uid_t uid,
                       char *why, size_t whysz)
{
	if (st->st_uid == uid)
		return 0;
	snprintf(why, whysz, "%s: owned by uid %u, not by uid %u", path,
	         (unsigned)st->st_uid, (unsigned)uid);
	return KW_EPERM;
}

int fsguard_dir(const char *path, uid_t uid, unsigned group_bits, gid_t gid,
                char *why, size_t whysz)
{
	struct stat st;
	unsigned mode;
	int r = guard_lstat(path, &st, why, whysz);

	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whysz, "%s: not a directory", path);
		return KW_EPERM;
	}
	if ((r = guard_owner(path, &st, uid, why, whysz)) < 0)
		return r;
	mode = (unsigned)st.st_mode & 07777;
	if (mode & ~(0700u | (group_bits & 050u))) {
		if (group_bits)
			snprintf(why, whysz,
			         "%s: mode %04o lets others in; run: chmod "
			         "750 %s",
			         path, mode, path);
		else
			snprintf(why, whysz,
			         "%s: mode %04o lets other users in; run: "
			         "chmod 700 %s",
			         path, mode, path);
		return KW_EPERM;
	}
	if ((mode & 070) && st.st_gid != gid) {
		snprintf(why, whysz,
		         "%s: group %u may enter it, not the socket_group "
		         "(%u); run: chgrp %u %s",
		         path, (unsigned)st.st_gid, (unsigned)gid,
		         (unsigned)gid, path);
		return KW_EPERM;
	}
	return 0;
}

int fsguard_socket(const char *path, uid_t uid, unsigned mode, gid_t gid,
                   char *why, size_t whysz)
{
	struct stat st;
	unsigned have;
	int r = guard_lstat(path, &st, why, whysz);

	if (r < 0)
		return r;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, whysz, "%s: not a socket", path);
		return KW_EPERM;
	}
	if ((r = guard_owner(path, &st, uid, why, whysz)) < 0)
		return r;
	have = (unsigned)st.st_mode & 07777;
	if (have != mode) {
		snprintf(why, whysz,
		         "%s: mode %04o, but [agent] socket_mode is %04o", path,
		         have, mode);
		return KW_EPERM;
	}
	if ((mode & 070) && st.st_gid != gid) {
		snprintf(why, whysz,
		         "%s: group %u, but [agent] socket_group is %u", path,
		         (unsigned)st.st_gid, (unsigned)gid);
		return KW_EPERM;
	}
	return 0;
}
