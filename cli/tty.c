/*
 * tty.c - reading passphrases and values without echo (see tty.h), and the
 * CLI's passphrase prompt built on it.
 *
 * Input is read one byte at a time: a terminal hands over a whole line per
 * read() anyway, and on a --passphrase-fd pipe it guarantees that a second
 * line (passwd reads the current passphrase, then the new one) is left for
 * the next call instead of being swallowed by a buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "secmem.h"
#include "tty.h"
#include "writeall.h"

/* Set by the handler while the terminal's echo is off; the one piece of
 * global state, because a signal handler has nowhere else to write. */
static volatile sig_atomic_t tty_signal;

static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define TTY_NSIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

static void tty_on_signal(int sig)
{
	tty_signal = sig;
}

/*
 * Read up to '\n' or end of file into buf. With drain, bytes beyond bufsz - 1
 * are read and dropped up to the '\n' (a terminal line is short anyway);
 * without it, reading stops as soon as the line is known to be too long.
 */
static int read_line(int fd, char *buf, size_t bufsz, bool drain,
                     size_t *ret_len)
{
	bool too_long = false, nul = false, any = false;
	size_t len = 0;

	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);

		if (n < 0) {
			if (errno == EINTR && !tty_signal)
				continue;
			return KW_EIO;
		}
		if (n == 0) {
			if (!any)
				return KW_ECLOSED;
			break;
		}
		any = true;
		if (ch == '\n')
			break;
		if (ch == '\0')
			nul = true;
		if (len + 1 < bufsz) {
			buf[len++] = ch;
			continue;
		}
		too_long = true;
		if (!drain)
			break;
	}
	buf[len] = '\0';
	if (too_long)
		return KW_ETOOBIG;
	if (nul)
		return KW_EINVAL;
	*ret_len = len;
	return 0;
}

int tty_read_secret(const char *prompt, char *buf, size_t bufsz,
                    size_t *ret_len)
{
	struct sigaction sa = { .sa_handler = tty_on_signal },
			 old[TTY_NSIGNALS];
	struct termios saved, quiet;
	size_t len = 0;
	int fd, r, sig;

	if (bufsz < 2)
		return KW_EINVAL;
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return KW_EIO;
	r = KW_EIO;
	if (tcgetattr(fd, &saved) < 0)
		goto out_fd;

	/* No SA_RESTART: a signal must interrupt read() so we can restore
	 * echo before the default action ends the process. */
	tty_signal = 0;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < TTY_NSIGNALS; i++)
		sigaction(tty_signals[i], &sa, &old[i]);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0)
		goto out_signals;
	(void)kw_write_all(fd, prompt, strlen(prompt));
	r = read_line(fd, buf, bufsz, true, &len);
	tcsetattr(fd, TCSAFLUSH, &saved);
	(void)kw_write_all(fd, "\n", 1);

out_signals:
	for (size_t i = 0; i < TTY_NSIGNALS; i++)
		sigaction(tty_signals[i], &old[i], NULL);
	sig = tty_signal;
	if (sig) {
		sodium_memzero(buf, bufsz);
		close(fd);
		raise(sig);
		return KW_EIO; /* the signal was ignored by the caller's setup
		                */
	}
out_fd:
	close(fd);
	if (r == 0)
		*ret_len = len;
	return r;
}

int tty_read_fd_line(int fd, char *buf, size_t bufsz, size_t *ret_len)
{
	if (bufsz < 2)
		return KW_EINVAL;
	return read_line(fd, buf, bufsz, false, ret_len);
}

/* Explain a failed passphrase read. */
static int pass_error(const struct cli *cli, int fd, int r)
{
	switch (r) {
	case KW_ECLOSED:
		if (fd >= 0)
			cli_msg(cli, NULL, "no passphrase on fd %d", fd);
		else
			cli_msg(cli, NULL, "no passphrase given");
		break;
	case KW_ETOOBIG:
		cli_msg(cli, NULL, "passphrase longer than %u bytes",
		        KW_PASS_MAX);
		break;
	case KW_EINVAL:
		cli_msg(cli, NULL, "passphrase contains a NUL byte");
		break;
	default:
		if (fd >= 0)
			cli_msg(cli, NULL, "cannot read fd %d", fd);
		else
			cli_msg(cli, NULL,
			        "no terminal to ask for the passphrase on; "
			        "use --passphrase-fd N");
		break;
	}
	return CLI_EXIT_ERROR;
}

/* One passphrase from fd or the terminal into pass (KW_PASS_MAX + 2). */
static int pass_read_one(const struct cli *cli, int fd, const char *prompt,
                         char *pass, size_t *ret_len)
{
	const size_t bufsz = KW_PASS_MAX + 2;
	json_t *utf8;
	size_t len = 0;
	int r;

	if (fd >= 0)
		r = tty_read_fd_line(fd, pass, bufsz, &len);
	else
		r = tty_read_secret(prompt, pass, bufsz, &len);
	if (r == 0 && len > KW_PASS_MAX)
		r = KW_ETOOBIG;
	if (r < 0)
		return pass_error(cli, fd, r);
	if (len == 0) {
		cli_msg(cli, NULL, "the passphrase must not be empty");
		return CLI_EXIT_ERROR;
	}
	/* The protocol carries it as a JSON string: one that is not UTF-8
	 * could be set by init but never sent by unlock. jansson's copy is
	 * wiped on release (kw_secmem_init ran before any prompt). */
	utf8 = json_stringn(pass, len);
	if (!utf8) {
		cli_msg(cli, NULL, "the passphrase must be valid UTF-8");
		return CLI_EXIT_ERROR;
	}
	json_decref(utf8);
	*ret_len = len;
	return 0;
}

int cli_read_passphrase(const struct cli *cli, int fd, const char *prompt,
                        const char *confirm, char **ret_pass)
{
	const size_t bufsz = KW_PASS_MAX + 2;
	char *pass, *again = NULL;
	size_t len, len2;
	int ex = CLI_EXIT_ERROR;

	pass = sodium_malloc(bufsz);
	if (!pass) {
		cli_msg(cli, NULL, "out of memory");
		return CLI_EXIT_ERROR;
	}
	ex = pass_read_one(cli, fd, prompt, pass, &len);
	if (ex != 0)
		goto fail;
	if (confirm && fd < 0) {
		ex = CLI_EXIT_ERROR;
		again = sodium_malloc(bufsz);
		if (!again) {
			cli_msg(cli, NULL, "out of memory");
			goto fail;
		}
		ex = pass_read_one(cli, fd, confirm, again, &len2);
		if (ex != 0)
			goto fail;
		if (len2 != len || sodium_memcmp(pass, again, len) != 0) {
			cli_msg(cli, NULL, "the passphrases do not match");
			ex = CLI_EXIT_ERROR;
			goto fail;
		}
		sodium_free(again);
	}
	*ret_pass = pass;
	return 0;

fail:
	sodium_free(again);
	sodium_free(pass);
	return ex;
}
