/*
 * procgroup.h - name a process group so that a later agent can recognise
 * it, and kill what is left of it (docs/rotation.md, "When the agent
 * dies"). Linux only: reads /proc.
 *
 * A pid, and with it a group id, is reused once the last process holding
 * it is gone, and every boot starts the numbers again. So a group is named
 * by more than its id: the start time of its leader (clock ticks after
 * boot, field 22 of /proc/PID/stat), the session it was started in and
 * the boot it belongs to (/proc/sys/kernel/random/boot_id).
 */
#ifndef KW_PROCGROUP_H
#define KW_PROCGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCGROUP_BOOT_ID_LEN 36

typedef struct procgroup {
	int64_t pgid, sid;
	uint64_t start;
	char boot[PROCGROUP_BOOT_ID_LEN + 1];
} procgroup;

/*
 * Name the group that pid leads. pid must stay unreaped meanwhile (the
 * caller's child), so that it is the process meant. 0; KW_ENOTFOUND (no
 * such process); KW_EIO (/proc unreadable or not as expected).
 */
int procgroup_identify(pid_t pid, procgroup *ret);
/*
 * Kill (SIGKILL) what is left of g, if it is still that group: same boot,
 * and its leader alive with the same start time, or, the leader gone,
 * every member of our uid and session and started no earlier than the
 * leader; then wait until no member is left that is not a zombie.
 * *ret_killed: whether there was anything to kill. 0; KW_EINVAL; KW_EIO
 * (no /proc, or the kill failed); KW_ETIMEOUT (members still alive 2 s
 * after SIGKILL, e.g. stuck in the kernel). Blocks: for start-up.
 */
int procgroup_kill(const procgroup *g, bool *ret_killed);

#endif
