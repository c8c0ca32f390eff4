/*
 * sandbox_seccomp.c - the system-call half of the sandbox: one allow-list
 * per profile, loaded with libseccomp. Anything else kills the process.
 *
 * The lists come from measurement, not from a guess: strace -ff of
 * keywardd through the integration suite (the key holder's loop, its
 * worker threads) and of curl fetching an HTTPS page (keyward-net), less
 * what only the paths that leave the key holder use (the command
 * rotator's fork and exec, the webhook thread's INET sockets). Calls are
 * named, not numbered: a name the architecture lacks (open on arm64) is
 * skipped, so one table serves every architecture.
 */
#include "sandbox_int.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>

#include "keyward.h"

#define KH  (1u << SANDBOX_KEYHOLDER)
#define NET (1u << SANDBOX_NET)
#define ALL (KH | NET)

struct allowed {
	const char *name;
	unsigned profiles;
};

/* Allowed as they are, with why. socket, socketpair, clone and clone3
 * have argument rules below. */
static const struct allowed allowed[] = {
	/* Memory: malloc, sodium_malloc's guard pages and mlock. */
	{ "brk", ALL },
	{ "mmap", ALL },
	{ "munmap", ALL },
	{ "mprotect", ALL },
	{ "madvise", ALL },
	{ "mremap", ALL },
	{ "mlock", KH }, /* sodium_mlock of keys */
	{ "munlock", KH },
	/* Descriptors and files: the store, its WAL, the audit checkpoint
	 * file, config and policy reloads, /proc reads for peers. */
	{ "read", ALL },
	{ "write", ALL },
	{ "readv", ALL },
	{ "writev", ALL },
	{ "pread64", ALL },
	{ "pwrite64", KH }, /* SQLite */
	{ "lseek", ALL },
	{ "close", ALL },
	{ "openat", ALL },
	{ "open", ALL },
	{ "newfstatat", ALL },
	{ "fstat", ALL },
	{ "stat", ALL },
	{ "lstat", ALL },
	{ "statx", ALL },
	{ "fstatfs", KH }, /* SQLite checks the filesystem */
	{ "access", ALL },
	{ "faccessat", ALL },
	{ "faccessat2", ALL },
	{ "readlink", KH }, /* /proc/PID/exe of a peer */
	{ "readlinkat", KH },
	{ "getdents64", KH }, /* policy directory, /proc, /proc/self/fd */
	{ "fcntl", ALL },     /* SQLite's locks, O_NONBLOCK, F_DUPFD_CLOEXEC */
	{ "flock", KH },      /* the store's single-agent lock */
	{ "fsync", KH },
	{ "fdatasync", KH },
	{ "ftruncate", KH }, /* SQLite WAL and shm */
	{ "mkdir", KH },     /* runtime directory, checkpoints */
	{ "mkdirat", KH },
	{ "unlink", KH }, /* stale socket, journal files */
	{ "unlinkat", KH },
	{ "rename", KH }, /* atomic rewrite of the checkpoint file */
	{ "renameat", KH },
	{ "renameat2", KH },
	{ "chmod", KH }, /* socket 0600 */
	{ "fchmod", KH },
	{ "fchown", KH }, /* SQLite keeps the owner of new files */
	{ "umask", KH },
	{ "dup", ALL },
	{ "dup3", ALL },
	{ "pipe2", ALL },
	{ "eventfd2", ALL }, /* the loop's and curl's wake-ups */
	{ "ioctl", NET },    /* FIONREAD/FIONBIO in libcurl and OpenSSL */
	/* Event loop and waiting. */
	{ "epoll_create1", ALL },
	{ "epoll_ctl", ALL },
	{ "epoll_wait", ALL },
	{ "epoll_pwait", ALL },
	{ "poll", ALL },
	{ "ppoll", ALL },
	{ "signalfd4", KH }, /* SIGTERM, SIGHUP, SIGCHLD in the loop */
	{ "futex", ALL },    /* threads: the Argon2 worker, curl's resolver */
	{ "nanosleep", ALL },
	{ "clock_nanosleep", ALL },
	{ "sched_yield", ALL },
	/* Time (the vDSO normally answers; these are its fallbacks). */
	{ "clock_gettime", ALL },
	{ "clock_getres", ALL },
	{ "gettimeofday", ALL },
	{ "time", ALL },
	/* Unix sockets (key holder) and every socket (net). */
	{ "accept4", KH },
	{ "bind", KH },
	{ "listen", KH },
	{ "connect", ALL }, /* key holder: /dev/log for the audit copy */
	{ "sendto", ALL },
	{ "recvfrom", ALL },
	{ "sendmsg", ALL },
	{ "recvmsg", ALL },
	{ "sendmmsg", NET }, /* glibc's resolver: A and AAAA at once */
	{ "shutdown", ALL },
	{ "getsockopt", ALL }, /* SO_PEERCRED, SO_ERROR */
	{ "setsockopt", ALL },
	{ "getsockname", ALL },
	{ "getpeername", ALL },
	/* Process and threads. */
	{ "getpid", ALL },
	{ "gettid", ALL },
	{ "getuid", ALL },
	{ "geteuid", ALL },
	{ "getgid", ALL },
	{ "getegid", ALL },
	{ "getrandom", ALL }, /* libsodium, OpenSSL */
	{ "uname", NET },     /* OpenSSL, libcurl */
	{ "sysinfo", ALL },   /* glibc's qsort sizes its buffer with it */
	{ "prlimit64", ALL },
	{ "getrlimit", ALL },
	{ "rt_sigaction", ALL },
	{ "rt_sigprocmask", ALL },
	{ "rt_sigreturn", ALL },
	{ "sigaltstack", ALL },
	{ "restart_syscall", ALL },
	{ "set_robust_list", ALL }, /* every new thread */
	{ "rseq", ALL },
	{ "set_tid_address", ALL },
	{ "tgkill", ALL }, /* abort() on a failed assertion */
	{ "kill", KH },    /* signals to the spawner and keyward-net */
	{ "exit", ALL },
	{ "exit_group", ALL },
#ifdef SANDBOX_SANITIZED
	/* LeakSanitizer at exit: a task cloned without CLONE_THREAD lists
	 * the threads in /proc/PID/task, stops them with ptrace and reads
	 * /proc/PID/maps. A call it lacks kills only that task, and the
	 * process then waits for it for ever: measured call by call. */
	{ "prctl", ALL }, /* PR_GET/SET_DUMPABLE around the ptrace */
	{ "getdents", ALL },
	{ "ioctl", ALL },
	{ "ptrace", ALL },
	{ "wait4", ALL },
	{ "waitid", ALL },
	{ "getppid", ALL },
	{ "sched_getaffinity", ALL },
#endif
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The rules with arguments; 0 or a libseccomp error. */
static int add_arg_rules(scmp_filter_ctx ctx, enum sandbox_profile profile,
                         unsigned *count)
{
	int rc = 0;

	/* glibc tries clone3 first and falls back to clone on ENOSYS; the
	 * flags of clone3 are in memory the filter cannot read. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
	                       0);
#ifdef SANDBOX_SANITIZED
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
#else
	/* Threads only: neither process forks (commands run in the
	 * spawner). The flags are clone's first argument on x86 and
	 * arm64. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	                       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
	                               CLONE_THREAD));
#endif
	*count += 1;
	if (profile == SANDBOX_NET) {
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
		                       0);
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		                       SCMP_SYS(socketpair), 0);
		*count += 2;
		return rc;
	}
	/* The key holder: Unix sockets only. Other families fail rather
	 * than kill, so that a library probing for one carries on. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	                       SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
	                       SCMP_SYS(socket), 1,
	                       SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	                       SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
	                       SCMP_SYS(socketpair), 1,
	                       SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	*count += 2;
	return rc;
}

int sandbox_seccomp_load(enum sandbox_profile profile, unsigned *ret_count)
{
	unsigned bit = 1u << profile, count = 0;
	int rc = 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);

	if (ctx == NULL)
		return KW_EINTERNAL;
	for (size_t i = 0; i < ARRAY_LEN(allowed) && rc == 0; i++) {
		if (!(allowed[i].profiles & bit))
			continue;
		int nr = seccomp_syscall_resolve_name(allowed[i].name);
		if (nr < 0)
			continue; /* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		count++;
	}
	if (rc == 0)
		rc = add_arg_rules(ctx, profile, &count);
	/* Every thread, not only the caller. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0)
		return KW_EINTERNAL;
	*ret_count = count;
	return 0;
}
