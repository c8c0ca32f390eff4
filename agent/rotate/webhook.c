/*
 * webhook.c - see webhook.h. A webhook job is an httpc job (httpc.h) with
 * a signed JSON body, whose result is judged by its status.
 */
#include "webhook.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "secmem.h"

struct webhook_job {
	httpc_job *job;
	rotjob_done done;
	void *arg;
};

/* The signature. */

int webhook_signature(const uint8_t *key, size_t keylen, int64_t t,
                      const char *body, size_t body_len, char *out,
                      size_t outsz)
{
	if (!key || keylen < 1 || keylen > WEBHOOK_KEY_MAX || t < 0 ||
	    (!body && body_len > 0) || !out || outsz < WEBHOOK_SIGNATURE_SIZE)
		return KW_EINVAL;

	char prefix[24];
	int n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * crypto_auth_hmacsha256_BYTES + 1];

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)prefix, (size_t)n);
	if (body_len > 0)
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)body,
		                              body_len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(out, outsz, "t=%" PRId64 ",v1=%s", t, hex);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

static void on_done(void *arg, int result, const char *detail,
                    const httpc_response *resp)
{
	webhook_job *w = arg;
	rotjob_done done = w->done;
	void *done_arg = w->arg;
	char out[ROTJOB_DETAIL_MAX];

	_Static_assert(ROTJOB_DETAIL_MAX >= HTTPC_DETAIL_MAX,
	               "an httpc detail fits a rotjob one");
	free(w);
	if (result < 0) {
		done(done_arg, result, detail);
		return;
	}
	/* "HTTP <status>", and for a failure ": <the body's first line>" cut
	 * to what is left of the detail. */
	int n = snprintf(out, sizeof(out), "HTTP %u", resp->status);
	result = resp->status >= 200 && resp->status <= 299 ? 0 : KW_ESTATE;
	if (result < 0 && resp->body_len > 0 && resp->body[0] != '\r' &&
	    resp->body[0] != '\n' && (size_t)n + 3 < sizeof(out)) {
		memcpy(out + n, ": ", 3);
		httpc_first_line(resp->body, resp->body_len, out + n + 2,
		                 sizeof(out) - (size_t)n - 2);
	}
	done(done_arg, result, out);
	sodium_memzero(out, sizeof(out));
}

static void on_dropped(void *arg)
{
	free(arg);
}

int webhook_start(httpc *h, const webhook_request *req, rotjob_done done,
                  void *arg, webhook_job **ret_job)
{
	if (!h || !req || !done || !ret_job || !req->hmac_key ||
	    req->hmac_key_len < 1 || req->hmac_key_len > WEBHOOK_KEY_MAX ||
	    req->timestamp < 0 || (!req->body && req->body_len > 0))
		return KW_EINVAL;
	if (req->body_len > WEBHOOK_BODY_MAX)
		return KW_ETOOBIG;

	char sig[WEBHOOK_SIGNATURE_SIZE];
	char header[32 + WEBHOOK_SIGNATURE_SIZE];
	int r = webhook_signature(req->hmac_key, req->hmac_key_len,
	                          req->timestamp, req->body, req->body_len, sig,
	                          sizeof(sig));
	if (r < 0)
		return r;
	snprintf(header, sizeof(header), "Keyward-Signature: %s", sig);
	const char *headers[] = { "Content-Type: application/json", header };
	const httpc_request hr = {
		.method = "POST",
		.url = req->url,
		.headers = headers,
		.nheaders = 2,
		.body = req->body,
		.body_len = req->body_len,
		.response_max = WEBHOOK_RESPONSE_MAX,
		.allow_private = req->allow_private,
		.allow_insecure = req->allow_insecure,
		.private_hint = "the schedule needs allow_private",
		.insecure_hint = "the schedule needs allow_insecure",
		.timeout_ms = req->timeout_ms,
		.ca_file = req->ca_file,
		.dropped = on_dropped,
	};
	webhook_job *w = calloc(1, sizeof(*w));
	if (!w)
		return KW_ENOMEM;
	w->done = done;
	w->arg = arg;
	r = httpc_start(h, &hr, on_done, w, &w->job);
	if (r < 0) {
		free(w);
		return r;
	}
	*ret_job = w;
	return 0;
}

void webhook_cancel(webhook_job *w)
{
	if (w)
		httpc_cancel(w->job); /* frees w (on_dropped) */
}
