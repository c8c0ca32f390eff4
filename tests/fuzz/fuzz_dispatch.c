/*
 * fuzz_dispatch.c - the agent's request path: frame reader, JSON-RPC
 * envelope, every method, the batch commit and the answers (agent/rpc/conn.c,
 * dispatch.c, methods_*.c), on a real agent in keyfile mode whose home is
 * on tmpfs.
 *
 * Each input is what one client sends on one connection (a socketpair the
 * agent adopts as if accepted) before it shuts its side down; the agent's
 * loop runs until the connection is gone, the answers are read and
 * dropped. An answer held back on purpose (the growing delay after a bad
 * client token) is not waited for: the connection is dropped, as a peer
 * giving up would. A connection that is neither held nor finished after
 * STUCK_MS is a finding (a hang).
 *
 * State: the store, the audit log and the agent's tables carry over from
 * one input to the next, so the agent is rebuilt from a fresh home every
 * RESET_EVERY inputs, and at once when an input left it locked or in
 * passphrase mode (agent.lock, agent.passwd), which would shut out the
 * inputs that follow. A finding that needs earlier inputs therefore may
 * not replay alone; libFuzzer's crash file is still the input to start
 * from.
 *
 * The policy lets this program (the peer of both ends) administer and use
 * every secret. Commands and webhooks that a rotation runs are the agent's
 * job, but a fuzzer must not start arbitrary programs or reach the network:
 * a seccomp filter makes execve fail and refuses sockets other than
 * AF_UNIX, so a rotation step fails as "could not run" instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"
#include "crypto.h"
#include "fuzz.h"
#include "policy.h"
#include "secmem.h"
#include "store.h"

#define RESET_EVERY 2000u
#define STUCK_MS    10000

#if defined(__x86_64__)
#define FUZZ_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FUZZ_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define FUZZ_AUDIT_ARCH 0 /* unknown: refuse to run (see below) */
#endif

/* Small limits: each connection's frame buffer is max_frame_bytes (wiped
 * on free), and the limits themselves are paths to reach. */
static const char ini[] = "[agent]\n"
			  "log_level = error\n"
			  "max_frame_bytes = 16384\n"
			  "max_output_bytes = 65536\n"
			  "[store]\n"
			  "max_value_bytes = 4096\n"
			  "max_versions = 3\n"
			  "[kdf]\n"
			  "opslimit = 1\n"
			  "memlimit_kib = 8\n";

static agent a;
static char home[256], sock[256];
static unsigned inputs;

static void setup_fail(const char *what, int r)
{
	fprintf(stderr, "fuzz_dispatch: %s: %s\n", what, kw_strerror(r));
	abort();
}

static void deny_exec_and_network(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		         offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUZZ_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		         offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		         offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
		                   .filter = f };

	if (FUZZ_AUDIT_ARCH == 0) {
		fprintf(stderr, "fuzz_dispatch: no seccomp filter for this "
		                "architecture: add its AUDIT_ARCH\n");
		abort();
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	            SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
		perror("fuzz_dispatch: seccomp");
		abort();
	}
}

/* What `keyward init` makes: keyward.ini, master.key, the store, and the
 * default policy naming this executable. */
static void home_create(void)
{
	char path[PATH_MAX], exe[PATH_MAX];
	wrapped_key w = { .mode = KEY_WRAP_KEYFILE };
	kw_key *kek = NULL, *dk = NULL;
	store *st = NULL;
	int r;

	if (mkdir(home, 0700) != 0)
		setup_fail(home, KW_EIO);
	snprintf(path, sizeof(path), "%s/keyward.ini", home);
	fuzz_write_file(path, (const uint8_t *)ini, sizeof(ini) - 1);
	snprintf(path, sizeof(path), "%s/master.key", home);
	if ((r = keyfile_create(path, &kek)) < 0)
		setup_fail("master.key", r);
	if ((r = key_random(&dk)) < 0 || (r = key_wrap(kek, dk, &w)) < 0)
		setup_fail("data key", r);
	key_free(dk);
	key_free(kek);
	snprintf(path, sizeof(path), "%s/secrets.db", home);
	if ((r = store_open(path, STORE_CREATE, &st)) < 0 ||
	    (r = store_wrap_set(st, &w)) < 0)
		setup_fail("store", r);
	store_close(st);
	if (!realpath("/proc/self/exe", exe))
		setup_fail("/proc/self/exe", KW_EIO);
	snprintf(path, sizeof(path), "%s/policies", home);
	const char *exes[] = { exe };
	if ((r = policy_write_default(path, geteuid(), exes, 1)) < 0)
		setup_fail("policy (is this program's path over 150 bytes?)",
		           r);
}

static void agent_start(void)
{
	home_create();
	int r = agent_init(&a, home, NULL, sock, AGENT_NO_SANDBOX);
	if (r < 0)
		setup_fail("agent_init", r);
	inputs = 0;
}

static void agent_restart(void)
{
	agent_fini(&a);
	fuzz_remove_tree(home);
	agent_start();
}

/*
 * With -merge, -fork, -jobs or -minimize_crash, libFuzzer runs the inputs
 * in child processes it starts with system(), and the parent runs none:
 * the parent must keep exec, and needs no agent. The children are told
 * apart by the flags libFuzzer gives them.
 */
static bool spawns_children(int argc, char **argv)
{
	static const char *const outer[] = { "-merge=", "-set_cover_merge=",
		                             "-fork=", "-jobs=",
		                             "-minimize_crash=" };
	bool spawns = false;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "-merge_inner=", 13) == 0 ||
		    strncmp(argv[i], "-minimize_crash_internal_step=", 30) == 0)
			return false;
		for (size_t k = 0; k < sizeof(outer) / sizeof(outer[0]); k++) {
			size_t n = strlen(outer[k]);
			if (strncmp(argv[i], outer[k], n) == 0 &&
			    strcmp(argv[i] + n, "0") != 0)
				spawns = true;
		}
	}
	return spawns;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (spawns_children(*argc, *argv))
		return 0;
	if (kw_secmem_init() < 0)
		setup_fail("kw_secmem_init", KW_EINTERNAL);
	snprintf(home, sizeof(home), "%s/home", fuzz_scratch_dir());
	snprintf(sock, sizeof(sock), "%s/agent.sock", fuzz_scratch_dir());
	deny_exec_and_network();
	agent_start();
	return 0;
}

/* Read and drop whatever the agent sent. */
static void drain(int fd)
{
	char buf[65536];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	               sv) != 0)
		setup_fail("socketpair", KW_EIO);
	FUZZ_CHECK(a.conns == NULL);
	agent_adopt(&a, sv[0]);
	FUZZ_CHECK(a.conns != NULL && a.nconns == 1);
	while (off < size) {
		ssize_t n = send(sv[1], data + off, size - off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break; /* the agent closed it (a line too long) */
		FUZZ_CHECK(agent_turn(&a, 0) == 0);
		drain(sv[1]);
	}
	shutdown(sv[1], SHUT_WR);
	int64_t deadline = loop_now_ms() + STUCK_MS;
	while (a.conns) {
		conn *c = a.conns;
		if (c->hold_until_ms) {
			conn_free(c);
			break;
		}
		FUZZ_CHECK(loop_now_ms() < deadline);
		/* A parked request waits for the key-derivation thread. */
		FUZZ_CHECK(agent_turn(&a, c->parked ? 50 : 0) == 0);
		drain(sv[1]);
	}
	/* What the turn after the last answer would do (a batch opened by
	 * an event with nothing to answer). */
	FUZZ_CHECK(agent_turn(&a, 0) == 0);
	drain(sv[1]);
	close(sv[1]);
	FUZZ_CHECK(a.nconns == 0 && a.nuids == 0);
	if (++inputs >= RESET_EVERY || !a.dk || a.wrap.mode != KEY_WRAP_KEYFILE)
		agent_restart();
	return 0;
}
