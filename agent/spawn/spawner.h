/*
 * spawner.h - the command spawner: the process that starts `command:`
 * rotators for keywardd (docs/rotation.md, "Where commands run").
 *
 * keywardd forks it before it opens the store or reads a key, so it
 * never had key material in its memory; or, under a service manager, it
 * runs in a unit of its own and keywardd connects to it (keywardd
 * --spawner, spawn_service.h). It holds no secret: the rotator's input
 * goes from the agent into the command's stdin pipe directly
 * (spawn_msg.h).
 *
 * It does only what the agent asks over its socket: start a command (its
 * own process group, a keeper in that group, PR_SET_PDEATHSIG, a clean
 * environment, closed descriptors, resource limits: spawn_child.h), send
 * a signal to the group of a command it started, and report each exit,
 * after killing whatever the command left in its group and waiting until
 * that is gone (procgroup_kill, at most 2 s). It dies with its parent
 * (the forking agent, or the service manager): PR_SET_PDEATHSIG SIGKILL;
 * and it exits when the agent's end of the socket closes (after killing
 * every group it still runs). However it dies, each keeper then kills its
 * command's group.
 */
#ifndef KW_SPAWNER_H
#define KW_SPAWNER_H

/* Commands that may run at once (the rotation engine runs at most 64
 * outside steps). */
#define SPAWN_JOBS_MAX 64u

/*
 * Serve the agent on sock (a SOCK_SEQPACKET socket; every other fd but
 * 0-2 is closed first) until it closes its end; exits the process, 0 then,
 * 1 if the agent sent something malformed or the spawner could not run.
 */
_Noreturn void spawner_run(int sock);

#endif
