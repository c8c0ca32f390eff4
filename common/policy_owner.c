/*
 * policy_owner.c - exe paths and owner sections of the policy files (see
 * policy_owner.h).
 */
#include "policy_owner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyward.h"
#include "writeall.h"

int policy_exe_check(const char *exe, const char **ret_why)
{
	const char *why = NULL;
	size_t len = exe ? strlen(exe) : 0;

	if (len == 0 || exe[0] != '/')
		why = "must be an absolute path";
	else if (len >= PATH_MAX)
		why = "must be shorter than PATH_MAX";
	else if (strstr(exe, "//") || strstr(exe, "/./") ||
	         strstr(exe, "/../") || exe[len - 1] == '/' ||
	         (len >= 2 && strcmp(exe + len - 2, "/.") == 0) ||
	         (len >= 3 && strcmp(exe + len - 3, "/..") == 0))
		why = "must be a normalised path (no '//', '.' or '..' "
		      "components, no trailing '/')";
	for (size_t i = 0; !why && i < len; i++) {
		unsigned char c = (unsigned char)exe[i];
		if (c < 0x20 || c == 0x7f)
			why = "must not contain control characters";
	}
	if (!why)
		return 0;
	if (ret_why)
		*ret_why = why;
	return KW_EINVAL;
}

int policy_owner_section(char *buf, size_t bufsz, unsigned index, uid_t owner,
                         const char *cli_exe)
{
	char name[32];
	int n;

	/* The whole "exe = ..." line must fit the parser's line limit. */
	if (index == 0 || policy_exe_check(cli_exe, NULL) < 0 ||
	    strlen(cli_exe) > POLICY_OWNER_EXE_MAX)
		return KW_EINVAL;
	if (index == 1)
		snprintf(name, sizeof(name), "owner-cli");
	else
		snprintf(name, sizeof(name), "owner-cli-%u", index);
	n = snprintf(buf, bufsz,
	             "[client \"%s\"]\n"
	             "uid = %lu\n"
	             "exe = %s\n"
	             "admin = yes\n"
	             "read = **\n"
	             "write = **\n"
	             "list = **\n"
	             "rotate = **\n"
	             "verify = **\n",
	             name, (unsigned long)owner, cli_exe);
	if (n < 0 || (size_t)n >= bufsz)
		return KW_EINVAL;
	return n;
}

int policy_write_default(const char *dir, uid_t owner, const char *const *exes,
                         size_t nexes)
{
	char path[PATH_MAX];
	char text[POLICY_OWNER_FILE_MAX];
	size_t len;

	if (!dir || nexes == 0 || nexes > POLICY_OWNER_DEFAULT_MAX)
		return KW_EINVAL;
	int n = snprintf(path, sizeof(path), "%s/00-owner.ini", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return KW_EINVAL;
	n = snprintf(
		text, sizeof(text),
		"# 00-owner.ini - the default policy, written by keyward init.\n"
		"#\n"
		"# The owner's keyward CLI (this uid, and one of the keyward\n"
		"# executables named below: the one that ran init, where this\n"
		"# build installs keyward, /usr/bin and /usr/local/bin) may do\n"
		"# everything: unlock, manage clients and policies, and read,\n"
		"# write, list, rotate and verify every secret. Other programs\n"
		"# get nothing until a section names them; see the policies\n"
		"# README shipped with keyward. Files load in name order and\n"
		"# the first matching section wins, so keep this one first.\n"
		"# To let a keyward elsewhere administer too, run that keyward\n"
		"# with: policy owner add\n");
	if (n < 0 || (size_t)n >= sizeof(text))
		return KW_EINVAL;
	len = (size_t)n;
	for (size_t i = 0; i < nexes; i++) {
		text[len++] = '\n';
		n = policy_owner_section(text + len, sizeof(text) - len,
		                         (unsigned)i + 1, owner, exes[i]);
		if (n < 0)
			return n;
		len += (size_t)n;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return KW_EIO;
	int fd =
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	             0600);
	if (fd < 0)
		return errno == EEXIST ? KW_EEXIST : KW_EIO;
	int r = kw_write_all(fd, text, len);
	if (r == 0 && fsync(fd) < 0)
		r = KW_EIO;
	if (close(fd) < 0 && r == 0)
		r = KW_EIO;
	if (r < 0) {
		unlink(path);
		return r;
	}
	/* Make the new directory entry durable too. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
