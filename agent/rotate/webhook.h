/*
 * webhook.h - a webhook: rotator's HTTPS POST for one step
 * (docs/rotation.md, "webhook rotators").
 *
 * The request goes through the key holder's HTTP client (httpc.h): the
 * destination guard, address pinning, TLS rules, timeouts and size caps
 * are its, and every transfer runs in keyward-net. Here:
 *  - Body: the caller's JSON; headers Content-Type: application/json and
 *        Keyward-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
 *    over the bytes "<t>." || body, keyed with hmac_key, so the receiver
 *    can reject replays (an old t) and forgeries.
 *  - The response body is read up to WEBHOOK_RESPONSE_MAX bytes.
 *
 * Results (rotjob.h): 2xx is 0 with "HTTP <status>"; any other status is
 * KW_ESTATE with "HTTP <status>: <first line of the body, printable ASCII
 * only>" (httpc_first_line); a guard refusal is KW_EDENIED naming the address
 * and why
 * ("destination 10.0.0.5 is a private address; the schedule needs
 * allow_private"); running out of time is KW_ETIMEOUT; a failed lookup,
 * connection or TLS handshake, or a response body too large, is KW_EIO
 * with libcurl's sentence. If keyward-net dies with the request in flight
 * the result is KW_EIO, "keyward-net (the HTTP helper) was killed by
 * signal 9; the request may or may not have reached HOST" (it is then
 * restarted). No detail ever quotes the request body.
 */
#ifndef KW_WEBHOOK_H
#define KW_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "httpc.h"
#include "rotjob.h"

#define WEBHOOK_RESPONSE_MAX   (64u * 1024u)
#define WEBHOOK_URL_MAX        HTTPC_URL_MAX
#define WEBHOOK_BODY_MAX       HTTPC_BODY_MAX /* request body */
#define WEBHOOK_KEY_MAX        1024u          /* HMAC key bytes */
#define WEBHOOK_CA_MAX         HTTPC_CA_MAX   /* ca_file bytes */
#define WEBHOOK_SIGNATURE_SIZE 96u            /* webhook_signature's out */

typedef struct webhook_job webhook_job;

typedef struct webhook_request {
	const char *url; /* http:// or https://, no user:password, no zone id */
	const char *body; /* JSON; copied, and the copy wiped */
	size_t body_len;  /* 0..WEBHOOK_BODY_MAX */
	/* Used only inside webhook_start, which computes the signature there;
	 * neither the key nor anything derived from it but the header value
	 * is kept. */
	const uint8_t *hmac_key;
	size_t hmac_key_len; /* 1..WEBHOOK_KEY_MAX */
	int64_t timestamp;   /* the t= of the signature (unix seconds, >= 0) */
	bool allow_private;
	bool allow_insecure;
	/* Total, counted from webhook_start (name resolution included); the
	 * connect phase gets min(what is left, 10 s). > 0. */
	int timeout_ms;
	/* PEM file of CAs to trust instead of the system's (an internal CA;
	 * [rotation] webhook_ca_file); NULL: the system store. Read whole by
	 * webhook_start (symbolic links followed; a regular file of
	 * 1..WEBHOOK_CA_MAX bytes) and its contents, not the path, handed
	 * to keyward-net, whose sandbox lets it open no such file. A file
	 * that cannot be read fails the job (KW_EIO, the detail naming the
	 * path and why), not webhook_start. */
	const char *ca_file;
} webhook_request;

/*
 * Queue a request on h. On success *ret_job is the job until done is
 * called or webhook_cancel; done is called exactly once, from the loop,
 * never from inside this call (a refusal by the destination guard, a
 * failed lookup or a timeout included). On failure nothing is queued and
 * done is never called: KW_EINVAL (a missing or malformed field, a URL
 * that is not http(s) or has a user:password part), KW_ETOOBIG (body),
 * KW_ELIMIT (HTTPC_JOBS_MAX outstanding), KW_ENOMEM.
 */
int webhook_start(httpc *h, const webhook_request *req, rotjob_done done,
                  void *arg, webhook_job **ret_job);
/* Drop a job whose done has not been called: done is then never called,
 * and a transfer in progress is abandoned. NULL ok. */
void webhook_cancel(webhook_job *job);

/* The signature header value for body at t (for tests and docs):
 * "t=<t>,v1=<64 lower-case hex>"; outsz >= WEBHOOK_SIGNATURE_SIZE.
 * 0 or KW_EINVAL (key length, t < 0, outsz). */
int webhook_signature(const uint8_t *key, size_t keylen, int64_t t,
                      const char *body, size_t body_len, char *out,
                      size_t outsz);

#endif
