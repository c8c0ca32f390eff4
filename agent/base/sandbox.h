/*
 * sandbox.h - confine a process for good: no_new_privs, a seccomp
 * allow-list (libseccomp) and Landlock filesystem rules, per profile.
 *
 * Profiles:
 *   SANDBOX_KEYHOLDER  keywardd. Files: its home read-write (the store,
 *                      keyward.ini, the socket when it lives there), the
 *                      runtime directory read-write (the socket), the
 *                      policy directory read-only, and read-only the few
 *                      system files it still opens (/proc for peers'
 *                      exe and process groups, /etc/passwd, /etc/group
 *                      and /etc/nsswitch.conf for names in policies,
 *                      /dev/null, /dev/urandom, the time zone files).
 *                      Nothing else: no CA bundle, no resolver files.
 *                      No AF_INET/AF_INET6 (or any
 *                      non-AF_UNIX) socket: socket() and socketpair()
 *                      fail with EAFNOSUPPORT; no TCP bind or connect
 *                      through Landlock either (ABI 4+). No execve, no
 *                      fork (clone only with CLONE_THREAD).
 *   SANDBOX_NET        keyward-net. Files: read-only the CA bundle
 *                      (/etc/ssl, /usr/share/ca-certificates,
 *                      /usr/lib/ssl), the resolver's files
 *                      (/etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf,
 *                      /etc/host.conf, /etc/gai.conf), the shared
 *                      libraries (NSS modules are loaded when first
 *                      needed), /dev/null, /dev/urandom, time zones;
 *                      nothing else, so never ~/.mcp. Any socket family;
 *                      threads (libcurl's resolver) but no fork, no
 *                      execve.
 * paths->extra_ro adds read-only paths to either profile (a CA file the
 * configuration names, say), paths->extra_rw read-write ones.
 *
 * Every system call outside the profile's list kills the whole process
 * (SIGSYS, SECCOMP_RET_KILL_PROCESS); the lists in sandbox_seccomp.c say why
 * each call is there. The only calls that fail instead of killing:
 * socket()/socketpair() of another family than AF_UNIX in the key holder
 * (EAFNOSUPPORT, so a library probing for IPv6 gets an answer it handles),
 * and clone3() (ENOSYS: its flags sit in memory seccomp cannot read, so
 * glibc is sent to clone(), whose flags the filter checks).
 *
 * Landlock and the key holder: a Landlock domain also bars its process
 * from ptrace-reading any process outside the domain, and reading
 * /proc/PID/exe (readlink, stat) is such a read. keywardd identifies its
 * clients by that link (peer.h), so when it applies its Landlock rules
 * (unless [agent] confine_files = off, docs/config.md) it has its command
 * spawner read the link for it (peer_set_exe_broker, procexe.h). It
 * always applies no_new_privs and the seccomp filter, which is what keeps
 * it off the network and from exec'ing.
 *
 * Landlock: the best ABI the kernel offers is used (rights newer than
 * the kernel are left out). Where the kernel lacks Landlock (or it is
 * disabled at boot) sandbox_apply still applies no_new_privs and seccomp,
 * says so in its log line, and succeeds: filesystem confinement is then
 * absent, which the log line states once per process.
 *
 * Sanitizers: a build with -fsanitize=address (gcc defines
 * __SANITIZE_ADDRESS__, clang answers __has_feature) adds the calls
 * LeakSanitizer makes at exit (it stops the world with ptrace from a task
 * cloned without CLONE_THREAD) and lets it read /proc; the decision is
 * made at compile time, so a release build has no switch to turn it on.
 * Valgrind executes the client's system calls itself, so under valgrind
 * the filter would judge valgrind's calls: a process that is to run under
 * memcheck must not be sandboxed (when this is wired in, keywardd needs a
 * knob for the valgrind leg, and should then log that it is unconfined).
 *
 * Where the calls go:
 *   - keywardd (agent/core/agent.c, agent_confine): after harden_process(),
 *     after the spawner is forked and keyward-net started through it
 *     (every later start of keyward-net goes through the spawner too: the
 *     key holder cannot fork or execve), after the config and policies
 *     are read once, and BEFORE the store is opened, any key is loaded or
 *     unlocked and the key-derivation thread starts. The socket is bound
 *     afterwards, under the filter. With confine_files: home =
 *     KEYWARD_HOME, runtime = the socket's directory (made first),
 *     extra_ro = the config file, webhook_ca_file and, in test builds,
 *     the test clock's directory, extra_rw = the audit anchor's
 *     directory; a SIGHUP reload stays inside those.
 *     keywardd --no-sandbox (valgrind runs) skips it and says so.
 *   - keyward-net (agent/net/, its main()): right after it is
 *     re-executed and has set up libcurl (curl_global_init, which reads
 *     openssl.cnf) and before it reads its first request from the
 *     socketpair. paths: home/runtime/policy NULL.
 *   - the spawner: not sandboxed by this module (it execs commands,
 *     which must run with the user's full rights).
 */
#ifndef KW_SANDBOX_H
#define KW_SANDBOX_H

#include <stdbool.h>

enum sandbox_profile {
	SANDBOX_KEYHOLDER,
	SANDBOX_NET,
};

#define SANDBOX_EXTRA_MAX 8

struct sandbox_paths {
	const char *home;    /* read-write; required for SANDBOX_KEYHOLDER */
	const char *runtime; /* read-write; NULL if none */
	const char *policy;  /* read-only; NULL if none */
	/* Up to SANDBOX_EXTRA_MAX read-only paths, NULL-terminated; may be
	 * NULL. */
	const char *const *extra_ro;
	/* Likewise read-write (the key holder's audit anchor directory). */
	const char *const *extra_rw;
	/* Apply no Landlock rules (the key holder by default: see "Landlock
	 * and the key holder" above). */
	bool no_landlock;
};

/* What sandbox_apply did. */
struct sandbox_state {
	int landlock_abi;  /* 0: the kernel lacks Landlock */
	unsigned syscalls; /* system calls the filter allows */
};

/*
 * Confine the calling process, for good. It must have one thread: Landlock
 * confines only the calling thread, so threads started later (which
 * inherit everything) are the only safe ones. Logs one info line naming
 * the profile, the Landlock ABI (or "absent") and the filter's size.
 *
 * 0 with *ret_state set (may be NULL). KW_EINVAL when a required path is
 * missing or a path cannot be opened (*ret_what names which: "home",
 * "runtime", "policy", "extra"), or the process has more than one thread
 * ("threads"); KW_EINTERNAL when a step fails (*ret_what names it:
 * "no_new_privs", "seccomp", "landlock"). On failure after the checks the
 * process may be partly confined: the caller must exit.
 */
int sandbox_apply(enum sandbox_profile profile,
                  const struct sandbox_paths *paths,
                  struct sandbox_state *ret_state, const char **ret_what)
	__attribute__((warn_unused_result));

/* The Landlock ABI version the kernel offers, 0 if none. */
int sandbox_landlock_abi(void);

/* "keyholder" or "net". */
const char *sandbox_profile_name(enum sandbox_profile profile);

#endif
