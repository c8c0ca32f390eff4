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

#endif
