/*
 * oneshot.h - run keywardd's one-shot modes (keywardd --init, keywardd
 * --check-image; keywardd(8)) for keyward init and keyward restore, so
 * that the CLI links neither SQLite, inih nor the agent's code.
 *
 * keywardd is the one installed beside this keyward (the build tree keeps
 * a link to it in cli/ as well): an installed keyward runs the installed
 * keywardd, a build's keyward its own build's. A passphrase goes to it
 * over a socket pair whose end it gets as --passphrase-fd 3, never in
 * argv or the environment. Its stderr is this process's: what it prints
 * there is already a sentence for the user.
 */
#ifndef KW_CLI_ONESHOT_H
#define KW_CLI_ONESHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cli.h"

/* The fd keywardd reads a passphrase from, and as its argument. */
#define ONESHOT_PASS_FD     3
#define ONESHOT_PASS_FD_ARG "3"

struct oneshot {
	pid_t pid;
	int pass; /* our end of the passphrase channel, or -1 */
	int out;  /* keywardd's stdout, or -1 */
	char buf[512];
	size_t len;  /* bytes in buf */
	size_t used; /* of them, the line returned last and its newline */
};

/*
 * Start keywardd with args (NULL-terminated, without argv[0]); with_pass:
 * it gets a passphrase channel as fd ONESHOT_PASS_FD (args must say
 * --passphrase-fd 3); with_out: its stdout is read with oneshot_line.
 * Prints why it could not; 0 or an exit code.
 */
int oneshot_start(const struct cli *cli, const char *const *args,
                  bool with_pass, bool with_out, struct oneshot *ret);

/* Send the passphrase (len bytes, one line) and close the channel. 0 or
 * KW_EIO (keywardd went away: its status says why). */
int oneshot_send_pass(struct oneshot *o, const char *pass, size_t len);

/* The next line keywardd printed (without the newline), NUL-terminated in
 * o->buf's storage, valid until the next call; NULL at end of output. */
char *oneshot_line(struct oneshot *o);

/* Close what is left and wait: keywardd's exit status (keywardd(8)), or
 * -1 if it died of a signal or could not be waited for. */
int oneshot_finish(struct oneshot *o);

#endif
