/*
 * rotcmd.h - run a command: rotator's executable for one step
 * (docs/rotation.md, "command rotators").
 *
 * The executable gets its input as one JSON object on stdin, never in argv
 * or the environment; argv is just [path]. The command spawner starts it
 * (spawn_client.h, spawner.h; it never holds a key, and the input goes
 * from here into the stdin pipe, not through the spawner): no shell,
 * every fd but 0, 1 and 2 closed, stdin a pipe (closed after the input),
 * stdout and stderr one pipe whose first ROTCMD_OUTPUT_MAX bytes are kept
 * (the rest is read and dropped), a sanitised environment
 * (PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8, HOME and USER of the
 * agent's user, KEYWARD_ROTATION=1), in its own process group, cwd "/",
 * umask 077, no_new_privs (no setuid or file-capability gains), resource
 * limits (core dumps off, RLIMIT_CPU ROTCMD_CPU_TIMEOUTS times the
 * timeout, RLIMIT_NOFILE 1024, RLIMIT_FSIZE 1 GiB; lowered only). Exit
 * status 0 is success. At the timeout the group gets SIGTERM, then
 * SIGKILL 2 s later; the job then reports KW_ETIMEOUT.
 *
 * Driven by the agent's event loop (pipes and a timerfd here, the exit
 * from the spawner's socket): a slow command never delays other clients.
 *
 * What done gets: 0 and "exit status 0"; KW_ESTATE and "exit status N:
 * <first non-empty line of output>" or "killed by signal N"; KW_ETIMEOUT
 * and "timed out after N ms"; KW_EIO and "could not run: <step>: <reason>"
 * when the child could not be set up or execve failed (a missing or
 * non-executable path is reported this way, not by rotcmd_start;
 * rotspec_check_command is the early check), "could not start the
 * command: <reason>" when the spawner did not start it (it is restarting
 * after a death, it could not fork), or "the command spawner died while
 * the command ran; ..." (what is left of the group is killed first,
 * procgroup_kill). A command that exits without reading all of its input
 * is judged by its exit status alone. When the command exits, for
 * whatever reason, anything it left running in its group gets SIGKILL:
 * nothing outlives the step.
 *
 * The command dies with the agent, however the agent dies (docs/rotation.md,
 * "When the agent dies"): the spawner dies with the agent, the command
 * with the spawner (PR_SET_PDEATHSIG), and a keeper process in its group
 * (a forked copy of the spawner that never execs) kills the whole group
 * when the spawner's end of a pipe closes, which also reaches what the
 * command started itself, as long as it stays in the group. For what the
 * keeper cannot reach (it was killed itself, e.g. by the command; a member
 * left the group), rotcmd_group_of names the group so that a later agent
 * can kill what is left of it (procgroup_kill).
 *
 * The process must ignore SIGPIPE (keywardd does, in agent_signals): input
 * written to a command that closed its stdin must fail with EPIPE.
 */
#ifndef KW_ROTCMD_H
#define KW_ROTCMD_H

#include <stddef.h>

#include "loop.h"
#include "procgroup.h"
#include "rotjob.h"
#include "spawn_client.h"

#define ROTCMD_OUTPUT_MAX 4096u

typedef struct rotcmd rotcmd;

/*
 * Start path (absolute) through the spawner sp with input (len bytes;
 * copied, and the copy wiped) on its stdin; timeout_ms > 0. On success *ret_job
 * is the job until done is called or rotcmd_cancel; done is called from a loop
 * callback, after the job has been freed (done may start another job). On
 * failure nothing runs and done is not called: KW_EINVAL (bad argument,
 * relative path), KW_ENOMEM, KW_EIO (no pipe or timerfd). A start the spawner
 * refuses is not a failure here: done reports it.
 */
int rotcmd_start(spawn_client *sp, loop *l, const char *path, const void *input,
                 size_t len, int timeout_ms, rotjob_done done, void *arg,
                 rotcmd **ret_job);
/*
 * The detail a finished job reports: head, then ": " and the first line of
 * out (out_len bytes, leading empty lines skipped; none if out_len is 0 or
 * out holds only newlines), cut to fit ROTJOB_DETAIL_MAX with its NUL. One
 * trailing '\r' of that line is dropped, and every byte that is not
 * printable ASCII becomes '?', so the detail is always printable ASCII.
 */
void rotcmd_detail(const char *head, const char *out, size_t out_len,
                   char ret_detail[static ROTJOB_DETAIL_MAX]);
/* The group of a started job: KW_ENOTFOUND if /proc could not tell it at
 * the start (the job runs all the same). */
int rotcmd_group_of(const rotcmd *job, procgroup *ret);
/* Stop a job whose done has not been called: SIGKILL to its group, reaped
 * by the spawner (waits for that), free; done is never called. (Used when
 * the agent stops.) NULL ok. */
void rotcmd_cancel(rotcmd *job);

#endif
