/*
 * restore_mark.h - the audit row of a `keyward restore`, written by the
 * agent at its first start after it (docs/store.md, "Restoring").
 */
#ifndef KW_RESTORE_MARK_H
#define KW_RESTORE_MARK_H

#include "agent.h"

/*
 * If HOME/restore.pending exists: append a store.restore row naming when
 * the backup was taken and what was set aside, in the start's batch (a
 * marker that does not parse still gives a row, saying so). True if it
 * did; *ret_seq is the newest committed row before it.
 */
bool restore_mark_record(agent *a, uint64_t *ret_seq);
/*
 * After the start's batch: remove the marker once the row is committed
 * (the newest committed row is past seq) or, locked, queued for the
 * unlock. Otherwise it stays, and the next start tries again.
 */
void restore_mark_settle(agent *a, uint64_t seq);

#endif
