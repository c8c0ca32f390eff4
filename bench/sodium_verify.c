/*
 * sodium_verify - how many Ed25519 signatures libsodium verifies per second
 * on one core (crypto_sign_verify_detached), on a message as long as the
 * signing input of a keyward access token. This is the ceiling for
 * token.verify: the agent cannot verify faster than the primitive it calls.
 *
 * usage: sodium_verify [--bytes N] [--seconds S]
 * Prints one JSON object: {"msg_bytes", "verifies", "seconds",
 * "verifies_per_s"}. Exit 1 if any verification fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BYTES 65536u

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_arg(const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min) || v > max)
		return -1;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char msg[MAX_BYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char sig[crypto_sign_BYTES];
	double bytes = 300.0, seconds = 3.0, t0, t1 = 0.0;
	uint64_t done = 0, bad = 0;
	size_t len;
	int i;

	for (i = 1; i < argc; i++) {
		double *dst = NULL, max = 0.0;
		if (!strcmp(argv[i], "--bytes")) {
			dst = &bytes;
			max = MAX_BYTES;
		} else if (!strcmp(argv[i], "--seconds")) {
			dst = &seconds;
			max = 3600.0;
		}
		if (!dst || i + 1 >= argc ||
		    parse_arg(argv[i + 1], 0.001, max, dst) < 0) {
			fputs("usage: sodium_verify [--bytes N] [--seconds S]\n",
			      stderr);
			return 2;
		}
		i++;
	}
	if (sodium_init() < 0) {
		fputs("sodium_verify: sodium_init failed\n", stderr);
		return 1;
	}
	len = (size_t)bytes;
	randombytes_buf(msg, len);
	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, msg, len, sk);
	sodium_memzero(sk, sizeof(sk));

	t0 = now_s();
	for (;;) {
		/* Check the clock every 64 verifications: cheap next to one. */
		for (i = 0; i < 64; i++) {
			if (crypto_sign_verify_detached(sig, msg, len, pk) != 0)
				bad++;
			done++;
		}
		t1 = now_s();
		if (t1 - t0 >= seconds)
			break;
	}
	printf("{\"msg_bytes\":%zu,\"verifies\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"seconds\":%.3f,\"verifies_per_s\":%.1f}\n",
	       len, done, bad, t1 - t0, (double)done / (t1 - t0));
	return bad == 0 ? 0 : 1;
}
