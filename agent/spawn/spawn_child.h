/*
 * spawn_child.h - what the spawner (spawner.c) runs in the processes it
 * forks: a rotation command's child up to its execve, and the keeper of
 * the command's group. The spawner is single-threaded, but these still
 * make only async-signal-safe calls: argv and envp are built before the
 * fork (spawn_env_build).
 */
#ifndef KW_SPAWN_CHILD_H
#define KW_SPAWN_CHILD_H

#include <sys/types.h>

/* The command's environment: PATH=/usr/local/bin:/usr/bin:/bin,
 * LANG=C.UTF-8, HOME and USER of the euid's passwd entry,
 * KEYWARD_ROTATION=1. envp points into buf and static strings. */
struct spawn_env {
	char *envp[6];
	char *buf;
};

/* 0; KW_ENOMEM; KW_EIO (no passwd entry). Free with spawn_env_free. */
int spawn_env_build(struct spawn_env *e);
void spawn_env_free(struct spawn_env *e);

/* Close every fd >= low: 0 or -1 (errno set). */
int spawn_close_from(int low);

/*
 * In the forked child: become the command. Its own process group,
 * PR_SET_PDEATHSIG SIGKILL (and no start at all if parent, the spawner,
 * is already gone), stdin from in, stdout and stderr to out, every other
 * fd closed, cwd "/", umask 077, default signals and an empty mask, the
 * resource limits of docs/rotation.md (cpu_seconds for RLIMIT_CPU),
 * no_new_privs, then execve(path, [path], envp). A step that fails is
 * written to errfd as two ints (enum spawn_step, errno) and the child
 * exits 127. Never returns.
 */
_Noreturn void spawn_child_run(char *path, char *envp[], int in, int out,
                               int errfd, pid_t parent, unsigned cpu_seconds);

/*
 * In the forked child: become keyward-net (agent/net/). PR_SET_PDEATHSIG
 * SIGKILL (not at all if parent, the spawner, is already gone), an empty
 * signal mask, stdin and stdout on /dev/null, stderr shared for its log,
 * sock as fd 3, every other fd closed, then execve(path, ["keyward-net"],
 * envp). Exits 126 if a step before execve fails, 127 if execve does.
 * Never returns.
 */
_Noreturn void spawn_net_child_run(const char *path, char *envp[], int sock,
                                   pid_t parent);

/*
 * In the forked keeper: join group, ignore every signal that can be
 * ignored, keep only rfd (the read end of a pipe whose only write end the
 * spawner holds; wfd, the keeper's copy of that end, is closed), block
 * reading it, and when it returns (the spawner died, or the keeper is
 * killed first when a step ends normally) SIGKILL the whole group.
 * Never returns.
 */
_Noreturn void spawn_keeper_run(int rfd, int wfd, pid_t group);

#endif
