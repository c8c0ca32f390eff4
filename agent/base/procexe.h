/*
 * procexe.h - the program a process runs, read through its /proc/PID
 * directory.
 *
 * The caller holds /proc/PID open (O_PATH): that directory stays bound to
 * the process it was opened for, and lookups in it fail once the process
 * is gone, even if its number is reused, so what is read there is that
 * process's and no other's.
 *
 * Reading another process's "exe" link needs ptrace-read access to it.
 * A process under Landlock never has that for a process outside its
 * domain; so keywardd, confined, has its command spawner read the link
 * for it (spawn_msg.h, SPAWN_EXE_READ). Both use these functions.
 */
#ifndef KW_PROCEXE_H
#define KW_PROCEXE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* One version of one file: device, inode, size and modification time. */
typedef struct procexe_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} procexe_id;

bool procexe_id_equal(const procexe_id *a, const procexe_id *b);

/* What the "exe" link of procfd's process refers to now. 0;
 * KW_ENOTFOUND (no access, no such process, or a kernel thread). */
int procexe_stat(int procfd, procexe_id *ret_id);

/*
 * The absolute path of the program procfd's process runs, and the
 * version of the file it runs. Fails closed (KW_ENOTFOUND) where the path
 * would not vouch for that program:
 * - the link cannot be read, or its target does not fit PATH_MAX;
 * - it ends in " (deleted)": the file was unlinked or replaced (a package
 *   upgrade renames a new binary over it), so the path names another
 *   file, or none;
 * - the path, looked up now, is not the file the process runs (renamed
 *   over while still linked elsewhere, or another mount namespace, where
 *   the path means something else to us);
 * - the process exec'd while it was read (the file before and after the
 *   read differ): either program's path may have been read.
 */
int procexe_read(int procfd, char path[static PATH_MAX], procexe_id *ret_id);

/*
 * Open the program procfd's process runs, for reading, and check it is
 * the version want (procexe_read's). The descriptor (close-on-exec), or
 * KW_ENOTFOUND (another file or version by now, or no access).
 */
int procexe_open(int procfd, const procexe_id *want);

/*
 * Open /proc/PID/maps of procfd's process: the kernel binds the
 * descriptor to the address space the process has now, and once the
 * process has exec'd (that address space is gone) every read of it
 * returns nothing. procexe_execd tells. The descriptor (close-on-exec),
 * or KW_ENOTFOUND. The address space stays in use, and a read still
 * answers, while a process that shares it without being a thread
 * (clone(CLONE_VM) without CLONE_THREAD; vfork's child until it execs)
 * still runs: an exec is noticed once the last of those is gone.
 */
int procexe_maps_open(int procfd);
/* Has the process of maps_fd (procexe_maps_open) exec'd or ended since
 * the open? One read of one byte. */
bool procexe_execd(int maps_fd);

#endif
