/*
 * sandbox_landlock.c - the filesystem half of the sandbox: Landlock rules
 * through the raw system calls (glibc has no wrappers), at the best ABI
 * the kernel offers.
 */
#include "sandbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "keyward.h"

/* Rights and fields newer than the oldest headers we build with (Debian
 * 12's describe ABI 2); the values are the kernel's ABI. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP    (1ULL << 0) /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif

/* struct landlock_ruleset_attr up to ABI 4. Kernels of ABI 1-3 read only
 * the first field; they accept the larger size because the rest is zero
 * there (handled_access_net is set only from ABI 4). */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
};

#define FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */

#define FS_FILE_RIGHTS                                                \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define FS_RO (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* A store: files and directories made, renamed, removed, truncated;
 * never executed, no device nodes. */
#define FS_RW                                                             \
	(FS_RO | LANDLOCK_ACCESS_FS_WRITE_FILE |                          \
	 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |      \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |    \
	 LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |         \
	 LANDLOCK_ACCESS_FS_TRUNCATE)

#define FS_DEVNULL \
	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE)

struct sys_path {
	const char *path;
	uint64_t access;
};

/* What the key holder opens outside its own trees (measured with strace
 * over the integration suite): peers' /proc/PID/{exe,status}, process
 * groups under /proc and the boot id; the user and group databases for
 * the names in policies; /dev/null as its reserve descriptor; the time
 * zone for local-time schedules. (stat and O_PATH opens, which fsguard
 * makes up to /, are not subject to Landlock.) */
static const struct sys_path keyholder_sys[] = {
	{ "/proc", FS_RO },          { "/etc/passwd", FS_RO },
	{ "/etc/group", FS_RO },     { "/etc/nsswitch.conf", FS_RO },
	{ "/dev/null", FS_DEVNULL }, { "/dev/urandom", FS_RO },
	{ "/etc/localtime", FS_RO }, { "/usr/share/zoneinfo", FS_RO },
};

/* What libcurl, OpenSSL and the resolver open during a transfer
 * (measured with strace of curl fetching an HTTPS page): the CA bundle,
 * the resolver's files, and shared libraries for NSS modules glibc loads
 * at the first lookup. */
static const struct sys_path net_sys[] = {
	{ "/etc/ssl", FS_RO },
	{ "/usr/share/ca-certificates", FS_RO },
	{ "/usr/lib/ssl", FS_RO },
	{ "/etc/pki", FS_RO },
	{ "/etc/resolv.conf", FS_RO },
	{ "/etc/hosts", FS_RO },
	{ "/etc/host.conf", FS_RO },
	{ "/etc/nsswitch.conf", FS_RO },
	{ "/etc/gai.conf", FS_RO },
	{ "/etc/services", FS_RO },
	{ "/etc/localtime", FS_RO },
	{ "/usr/share/zoneinfo", FS_RO },
	{ "/lib", FS_RO },
	{ "/lib64", FS_RO },
	{ "/usr/lib", FS_RO },
	{ "/usr/lib64", FS_RO },
	{ "/dev/null", FS_DEVNULL },
	{ "/dev/urandom", FS_RO },
#ifdef SANDBOX_SANITIZED
	{ "/proc", FS_RO }, /* LeakSanitizer reads /proc/PID/{task,maps} */
#endif
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t handled_fs(int abi)
{
	uint64_t fs = FS_ABI1;

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

int sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	                   LANDLOCK_CREATE_RULESET_VERSION);

	return abi > 0 && abi < 1000 ? (int)abi : 0;
}

/*
 * Allow access beneath path. A missing path is skipped when optional
 * (system files differ between distributions); anything else that
 * cannot be opened is an error. 0, -1 (cannot open) or -2 (add_rule).
 */
static int add_path(int ruleset, const char *path, uint64_t access,
                    uint64_t handled, bool optional)
{
	struct landlock_path_beneath_attr pb = { 0 };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return optional && errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	pb.parent_fd = fd;
	pb.allowed_access = access & handled;
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= FS_FILE_RIGHTS;
	int rc = (int)syscall(SYS_landlock_add_rule, ruleset,
	                      LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	close(fd);
	return rc == 0 ? 0 : -2;
}

/* The caller's paths: 0, or a KW_E* code with *ret_what set. */
static int add_given(int ruleset, const struct sandbox_paths *paths,
                     uint64_t handled, const char **ret_what)
{
	const struct {
		const char *what, *path;
		uint64_t access;
	} given[] = {
		{ "home", paths->home, FS_RW },
		{ "runtime", paths->runtime, FS_RW },
		{ "policy", paths->policy, FS_RO },
	};
	int rc;

	for (size_t i = 0; i < ARRAY_LEN(given); i++) {
		if (given[i].path == NULL)
			continue;
		rc = add_path(ruleset, given[i].path, given[i].access, handled,
		              false);
		if (rc != 0) {
			*ret_what = rc == -1 ? given[i].what : "landlock";
			return rc == -1 ? KW_EINVAL : KW_EINTERNAL;
		}
	}
	const struct {
		const char *const *list;
		uint64_t access;
	} extra[] = { { paths->extra_ro, FS_RO }, { paths->extra_rw, FS_RW } };
	for (size_t e = 0; e < ARRAY_LEN(extra); e++) {
		for (size_t i = 0; extra[e].list && extra[e].list[i]; i++) {
			if (i == SANDBOX_EXTRA_MAX) {
				*ret_what = "extra";
				return KW_EINVAL;
			}
			rc = add_path(ruleset, extra[e].list[i],
			              extra[e].access, handled, false);
			if (rc != 0) {
				*ret_what = rc == -1 ? "extra" : "landlock";
				return rc == -1 ? KW_EINVAL : KW_EINTERNAL;
			}
		}
	}
	return 0;
}

static int add_system(int ruleset, enum sandbox_profile profile,
                      uint64_t handled)
{
	const struct sys_path *sys =
		profile == SANDBOX_NET ? net_sys : keyholder_sys;
	size_t n = profile == SANDBOX_NET ? ARRAY_LEN(net_sys) :
	                                    ARRAY_LEN(keyholder_sys);

	for (size_t i = 0; i < n; i++)
		if (add_path(ruleset, sys[i].path, sys[i].access, handled,
		             true) != 0)
			return -1;
	return 0;
}

int sandbox_landlock_apply(enum sandbox_profile profile,
                           const struct sandbox_paths *paths, int abi,
                           const char **ret_what)
{
	struct ll_ruleset_attr attr = { .handled_access_fs = handled_fs(abi) };
	int rc;

	/* The key holder makes no TCP connection and binds no TCP port,
	 * whatever socket it might get: no rule grants either. */
	if (abi >= 4 && profile == SANDBOX_KEYHOLDER)
		attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
		                          LANDLOCK_ACCESS_NET_CONNECT_TCP;
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
	                           sizeof(attr), 0);
	if (ruleset < 0) {
		*ret_what = "landlock";
		return KW_EINTERNAL;
	}
	rc = add_given(ruleset, paths, attr.handled_access_fs, ret_what);
	if (rc == 0 && add_system(ruleset, profile, attr.handled_access_fs))
		rc = KW_EINTERNAL;
	if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
		rc = KW_EINTERNAL;
	if (rc == KW_EINTERNAL)
		*ret_what = "landlock";
	close(ruleset);
	return rc;
}
