/*
 * backup.h - what keyward backup, restore and rekey share (cmd_backup.c).
 */
#ifndef KW_CLI_BACKUP_H
#define KW_CLI_BACKUP_H

#include <stdint.h>

/* On a terminal, "WHAT:  42% (N of M KiB)" on stderr, rewritten in place
 * (a newline once done reaches total); nothing when stderr is not one. */
void cli_progress(const char *what, uint64_t done, uint64_t total);
/* On a terminal, "WHAT: step N of M: DOING" on stderr, rewritten in place
 * (a newline after the last step); nothing when stderr is not one. */
void cli_progress_step(const char *what, unsigned step, unsigned steps,
                       const char *doing);
/* fsync the directory that holds path, so a rename or link in it is
 * durable. 0 or -errno (printed by the caller). */
int cli_sync_dir_of(const char *path);

#endif
