/*
 * spawn_service.h - keywardd --spawner: the command spawner (spawner.h)
 * as a service of its own, started by socket activation
 * (keyward-spawner.socket, keywardd-spawner@.socket), so that the
 * agent's unit can keep every address family but AF_UNIX out
 * (packaging/README.md, "The command spawner's unit").
 *
 * The service manager passes one SOCK_SEQPACKET socket (LISTEN_FDS=1):
 * listening (Accept=no; one connection is taken) or connected
 * (Accept=yes). keywardd connects to it (KEYWARD_SPAWNER_SOCKET,
 * spawn_client.h), and before anything else:
 *
 *   1. the spawner checks its peer through SO_PEERCRED (keywardd called
 *      connect(), so it names keywardd): our uid, and, where the kernel
 *      shows it, our executable (spawn_peer.h; a non-root keywardd is not
 *      dumpable, so only its uid can be checked: docs/threat-model.md);
 *   2. it sends SPAWN_HELLO with its own SCM_CREDENTIALS;
 *   3. keywardd checks those (spawn_client.c) and answers SPAWN_HELLO;
 *   4. only then the spawner hardens itself (no core dumps, not
 *      dumpable: until then keywardd must be able to read its
 *      /proc/PID/exe) and serves keywardd until it disconnects.
 *
 * Each side waits at most SPAWN_HELLO_MS for the other's HELLO.
 */
#ifndef KW_SPAWN_SERVICE_H
#define KW_SPAWN_SERVICE_H

/* Exit statuses of keywardd --spawner besides spawner_run's 0 and 1
 * (keywardd(8), EXIT STATUS). */
#define SPAWN_SERVICE_EXIT_USAGE   2  /* no socket passed as it should be */
#define SPAWN_SERVICE_EXIT_REFUSED 77 /* the peer is not our keywardd */

/* Run keywardd --spawner. Returns an exit status if it cannot serve
 * (1: a system call failed, or the agent went away before its HELLO);
 * once serving it does not return (spawner_run). */
int spawn_service_main(void);

#endif
