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

/*
 * Allowed as they are, with why. socket, socketpair, clone and clone3 have
 * argument rules below. KH entries were all seen in keywardd's own
 * threads (strace -ff over the integration suite) except those marked
 * [runtime]: calls glibc or the kernel make on paths the suite rarely
 * takes (a signal's return, a failed assertion). NET entries were seen
 * in curl's HTTPS transfer, except those marked [helper]: keyward-net's
 * own loop and its socketpair to the key holder, which will be measured
 * once that process exists.
 */
static const struct allowed allowed[] = {
	/* Memory: malloc, sodium_malloc's guard pages and mlock. */
	{ "brk", ALL },
	{ "mmap", ALL },
	{ "munmap", ALL },
	{ "mprotect", ALL },
	{ "madvise", ALL },
	{ "mremap", ALL }, /* realloc of a large block */
	{ "mlock", KH },   /* sodium_mlock of keys */
	{ "munlock", KH },
	/* Descriptors and files: the store, its WAL, the audit checkpoint
	 * file, config and policy reloads, /proc reads for peers. */
	{ "read", ALL },
	{ "write", ALL },
	{ "pread64", ALL },
	{ "pwrite64", KH }, /* SQLite */
	{ "lseek", ALL },
	{ "close", ALL },
	{ "openat", ALL },
	{ "newfstatat", ALL },
	{ "access", ALL },    /* SQLite; OpenSSL's config lookup */
	{ "fstatfs", KH },    /* SQLite checks the filesystem */
	{ "readlink", KH },   /* /proc/self/fd */
	{ "readlinkat", KH }, /* a peer's exe (procexe.h), unless Landlocked */
	{ "getdents64", KH }, /* policy directory, /proc, /proc/self/fd */
	{ "fcntl", ALL },     /* SQLite's locks, O_NONBLOCK, F_DUPFD_CLOEXEC */
	{ "flock", KH },      /* the store's single-agent lock */
	{ "fsync", KH },
	{ "fadvise64", KH }, /* rekey: drop the old key file's pages */
	{ "fdatasync", KH },
	{ "ftruncate", KH }, /* SQLite WAL and shm */
	{ "mkdir", KH },     /* runtime directory */
	{ "unlink", KH },    /* stale socket, SQLite journal files */
	{ "rename", KH },    /* rekey: master.key.new over master.key */
	{ "chmod", KH },     /* socket 0600 */
	{ "fchmod", KH },    /* rekey: the new master.key 0600 */
	{ "chown", KH },     /* the store's files keep their owner */
	{ "fchown", KH },    /* SQLite keeps the owner of new files */
	{ "umask", KH },
	{ "pipe2", KH },     /* the loop's wake-up pipe */
	{ "eventfd2", ALL }, /* the loop's and curl's wake-ups */
	{ "ioctl", NET },    /* FIONREAD/FIONBIO in libcurl and OpenSSL */
	/* Event loop and waiting. */
	{ "epoll_create1", ALL },
	{ "epoll_ctl", ALL },
	{ "epoll_wait", ALL },
	{ "poll", ALL },
	/* poll and epoll_wait where the architecture lacks them (arm64);
	 * ppoll for libcurl's multi interface too. */
	{ "ppoll", ALL },
	{ "epoll_pwait", ALL },
	{ "timerfd_create", KH }, /* the loop's timers */
	{ "timerfd_settime", KH },
	{ "signalfd4", KH }, /* SIGTERM, SIGHUP, SIGCHLD in the loop */
	{ "futex", ALL },    /* threads: the Argon2 worker, curl's resolver */
	/* keyward-net's restart backoff; the key holder's short waits for a
	 * killed process group to be gone (procgroup_kill). */
	{ "clock_nanosleep", ALL },
	/* Time: the vDSO answers; this is its fallback. [runtime] */
	{ "clock_gettime", ALL },
	/* Unix sockets (key holder) and every socket (net). */
	{ "accept4", KH },
	{ "bind", KH },
	{ "listen", KH },
	{ "connect", ALL }, /* key holder: nscd, /dev/log for the audit copy */
	{ "sendto", ALL },
	{ "recvfrom", NET },
	/* keyward-net's socketpair to the key holder; the key holder's
	 * messages to the spawner (with descriptors). */
	{ "sendmsg", ALL },
	{ "recvmsg", ALL },
	{ "sendmmsg", NET },   /* glibc's resolver: A and AAAA at once */
	{ "getsockopt", ALL }, /* SO_PEERCRED, SO_ERROR */
	{ "setsockopt", ALL },
	{ "getsockname", ALL }, /* key holder: the socket systemd passed */
	{ "getpeername", NET },
	/* Process and threads. */
	{ "getpid", ALL },
	{ "gettid", ALL }, /* [runtime] abort() */
	{ "geteuid", ALL },
	{ "getrandom", ALL }, /* libsodium, OpenSSL */
	{ "uname", NET },     /* OpenSSL, libcurl */
	{ "sysinfo", ALL },   /* glibc's qsort sizes its buffer with it */
	{ "prlimit64", ALL },
	{ "rt_sigaction", ALL },
	{ "rt_sigprocmask", ALL },
	{ "rt_sigreturn", ALL },    /* [runtime] */
	{ "restart_syscall", ALL }, /* [runtime] */
	{ "set_robust_list", ALL }, /* every new thread */
	{ "rseq", ALL },
	{ "set_tid_address", ALL },
	{ "tgkill", ALL }, /* [runtime] abort() on a failed assertion */
	{ "kill", KH },    /* signals to a dead spawner, leftover groups */
	{ "wait4", KH },   /* reaping the spawner, its only child */
	{ "exit", ALL },
	{ "exit_group", ALL },
#ifdef SANDBOX_SANITIZED
	/* ASan and LeakSanitizer, measured call by call with the probe:
	 * an alternate signal stack per thread and, at exit, a task cloned
	 * without CLONE_THREAD that lists /proc/PID/task, stops the threads
	 * with ptrace and reads /proc/PID/maps. A call that task lacks kills
	 * only it, and the process then waits for it for ever. */
	{ "prctl", ALL }, /* PR_GET/SET_DUMPABLE around the ptrace */
	{ "getdents", ALL },
	{ "ioctl", ALL },
	{ "sched_yield", ALL },
	{ "sigaltstack", ALL },
	{ "open", ALL },
	{ "ptrace", ALL },
	{ "wait4", NET }, /* the key holder has it anyway */
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
	 * than kill, so that a library probing for one carries on. (The
	 * unused datum_b is spelt out: clang warns on a missing field.) */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	                       SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
	                       SCMP_SYS(socket), 1,
	                       SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	                       SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
	                       SCMP_SYS(socketpair), 1,
	                       SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
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
	/* A call through another ABI (32-bit, x32) ends the process too. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
		                      SCMP_ACT_KILL_PROCESS);
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
