/*
 * oauth_discover.h - an authorization server's metadata, fetched through
 * keyward-net (RFC 8414, then OpenID Connect Discovery, in the order the
 * MCP specification gives: kw_oauth_discovery_order) and kept for a
 * while (docs/oauth.md, "Discovery"). The document's issuer must equal
 * the one asked for, byte for byte; one that names another fails the
 * discovery at once, without trying the other locations.
 *
 * Results are kept per (issuer, allow_private, allow_insecure): a success
 * DISCOVERY_KEEP_S seconds, a failure DISCOVERY_FAIL_KEEP_S (long enough
 * for the callers that waited to read it). One fetch per issuer at a
 * time; callers that ask meanwhile wait on it.
 *
 * Event-loop thread only. Waiters are woken from discovery_tick.
 */
#ifndef KW_OAUTH_DISCOVER_H
#define KW_OAUTH_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "httpc.h"
#include "oauth.h" /* common/: kw_oauth_as_meta */
#include "oauthcred.h"

#define DISCOVERY_KEEP_S       300
#define DISCOVERY_FAIL_KEEP_S  30
#define DISCOVERY_ENTRIES_MAX  16u
#define DISCOVERY_RESPONSE_MAX (64u * 1024u)
#define DISCOVERY_NAME_MAX     64u /* a registered client's name */

typedef struct discovery discovery;

int discovery_new(const kw_config *cfg, discovery **ret);
/* Cancel fetches (waiters are not woken) and free. NULL ok. */
void discovery_free(discovery *d);
void discovery_set_net(discovery *d, httpc *net);
/* Wake the callers whose fetch ended. */
void discovery_tick(discovery *d);

/*
 * issuer's metadata into *ret: 0; 1 if the caller must wait (wake(waiter)
 * is called once, from discovery_tick, unless discovery_forget_waiter
 * first); a KW_E* code with why (KW_EINVAL: not a URL; the fetch's
 * failure; on a replay with nothing kept, KW_ESTATE).
 */
int discovery_get(discovery *d, const char *issuer, bool allow_private,
                  bool allow_insecure, bool replay, oauth_wake wake,
                  void *waiter, kw_oauth_as_meta *ret, char *why, size_t whysz);
void discovery_forget_waiter(discovery *d, void *waiter);

/*
 * The protected resource metadata at url (RFC 9728), whose "resource"
 * must equal resource byte for byte (3.3): as discovery_get.
 */
int discovery_resource(discovery *d, const char *url, const char *resource,
                       bool allow_private, bool allow_insecure, bool replay,
                       oauth_wake wake, void *waiter,
                       kw_oauth_resource_meta *ret, char *why, size_t whysz);

/* A client dynamic registration made (RFC 7591). */
typedef struct discovery_client {
	char client_id[257];
} discovery_client;

/*
 * Register a public native client (token_endpoint_auth_method none;
 * authorization_code and refresh_token; redirect_uri; client_name) at
 * the registration endpoint (RFC 7591): as discovery_get; the answer is
 * given to the first caller that asks again, then forgotten.
 */
int discovery_register(discovery *d, const char *endpoint,
                       const char *redirect_uri, const char *client_name,
                       bool allow_private, bool allow_insecure, bool replay,
                       oauth_wake wake, void *waiter, discovery_client *ret,
                       char *why, size_t whysz);
/* A registration answer's client_id (RFC 7591 3.2.1). */
int discovery_client_parse(const char *body, size_t len, discovery_client *ret,
                           char *why, size_t whysz);

#endif
