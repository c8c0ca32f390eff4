/*
 * hello.c - the README's "C API in ten lines": print a secret.
 * Build: cc hello.c $(pkg-config --cflags --libs keyward)
 * tests/install-check.sh builds and runs it against an installed keyward,
 * tests/readme-tour.py against the build tree; the README's copy is this
 * file without this comment.
 */
#include <keyward.h>
#include <stdio.h>

int main(void)
{
	kw_client *c = NULL;
	kw_secret *s = NULL;
	int r = kw_connect(&c, NULL); /* finds the agent like keyward does */
	if (r == 0)
		r = kw_secret_get(c, "github/token", &s);
	if (r == 0)
		fwrite(kw_secret_value(s), 1, kw_secret_len(s), stdout);
	else /* what failed, and why: the agent's reason, never a value */
		fprintf(stderr, "keyward: %s: %s\n", kw_strerror(r),
		        kw_last_error_message(c));
	kw_secret_free(s); /* wipes the value; NULL is fine */
	kw_close(c);
	return r != 0;
}
