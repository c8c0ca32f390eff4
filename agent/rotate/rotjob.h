/*
 * rotjob.h - what an external rotation step (rotcmd.h, webhook.h) reports
 * back to the rotation engine.
 */
#ifndef KW_ROTJOB_H
#define KW_ROTJOB_H

#define ROTJOB_DETAIL_MAX 200u

/*
 * Called once, on the event-loop thread, never from inside the call that
 * started the job. result: 0 on success, else KW_ETIMEOUT, KW_EIO (could
 * not run or talk to it), KW_EDENIED (destination refused by the guard),
 * KW_ESTATE (ran, but reported failure: non-zero exit, non-2xx status).
 * detail: a short printable-ASCII sentence (at most ROTJOB_DETAIL_MAX
 * bytes) for the audit log, e.g. "exit status 3: <first line of output>";
 * it may quote what the command or server said, so the engine checks it
 * for the value before recording it. Valid during the call only.
 */
typedef void (*rotjob_done)(void *arg, int result, const char *detail);

#endif
