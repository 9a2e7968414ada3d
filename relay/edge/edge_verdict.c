/*
 * The end of a scanned transaction in the smtp process: a verdict becomes a
 * reply, and an accepted message is written once more, as
 * [X-Airlock-Scan:][content], into a new spool transaction, which is
 * committed. The copy is what makes the stamp possible: the stamp names the
 * queue id of the file it lives in and hashes the body as it will be sent,
 * and the content may have been rewritten by the scanner (attachments
 * stripped, headers edited) or have X-Airlock-* fields to drop.
 *
 * The smtp process signs, not the scanner, because a message that could
 * not be scanned is still stamped (verdict=unscanned) when
 * scan.on_scanner_failure = accept, and the scanner is exactly what is
 * missing then.
 */
#include "relay/edge/edge_smtp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/attest.h"

#define TEMPFAIL_SCANNER "451 4.7.1 Message deferred: content scanner unavailable, try again later"

/* Reads len octets at off of fd into a new buffer; NULL on error. */
static char *read_range(int fd, off_t off, size_t len)
{
	char *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return NULL;
		}
		got += (size_t)n;
	}
	return buf;
}

/* The final content: rewritten by the scanner, or the temp file's own. */
static char *final_content(struct edge_txn *t, int content_fd, size_t *len)
{
	uint64_t max = (uint64_t)t->es->ctx->cfg.edge.max_message_size * 2 + 65536;
	if (content_fd >= 0) {
		struct stat st;
		if (fstat(content_fd, &st) < 0 || (uint64_t)st.st_size > max)
			return NULL;
		*len = (size_t)st.st_size;
		return read_range(content_fd, 0, *len);
	}
	int fd = queue_tx_read_fd(t->tx);
	if (fd < 0)
		return NULL;
	*len = (size_t)queue_tx_content_size(t->tx);
	char *buf = read_range(fd, queue_tx_content_offset(t->tx), *len);
	close(fd);
	return buf;
}

static void finish(struct edge_txn *t, const char *reply)
{
	queue_tx_abort(t->tx);
	t->tx = NULL;
	t->done(t->cookie, reply);
	edge_txn_free(t);
}

/* Stamps and commits; on failure answers 451 and frees t. */
static void accept_message(struct edge_txn *t, const struct scan_reply *r, int content_fd,
			   enum attest_verdict verdict)
{
	struct edge_smtp *es = t->es;
	char err[256] = "";
	size_t len = 0, nstrip = 0;
	char *buf = final_content(t, content_fd, &len);
	if (!buf) {
		log_error("event=queue-error session=%s id=%s reason=\"cannot read the content\"",
			  t->session_id, t->first_id);
		finish(t, "451 4.3.0 Queue write error");
		return;
	}
	len = attest_strip_incoming(buf, len, &nstrip);
	struct queue_tx *tx = queue_tx_begin(es->spool, &t->env, err, sizeof(err));
	struct attest_stamp st;
	memset(&st, 0, sizeof(st));
	char field[ATTEST_FIELD_MAX];
	int flen = -1;
	if (tx) {
		snprintf(st.id, sizeof(st.id), "%s", queue_tx_id(tx));
		st.time = time(NULL);
		snprintf(st.engine, sizeof(st.engine), "%s",
			 r && r->engine[0] ? r->engine : "none");
		snprintf(st.db, sizeof(st.db), "%s", r && r->db[0] ? r->db : "none");
		st.verdict = verdict;
		attest_body_hash(buf, len, st.body_hash);
		if (attest_sign(&st, es->signer) == 0)
			flen = attest_format_field(&st, field, sizeof(field));
		if (flen < 0)
			snprintf(err, sizeof(err), "cannot stamp (engine \"%s\", db \"%s\")",
				 st.engine, st.db);
	}
	if (!tx || flen < 0 || queue_tx_write(tx, field, (size_t)flen) < 0 ||
	    queue_tx_write(tx, buf, len) < 0) {
		free(buf);
		es->queue_write_errors++;
		log_error("event=queue-error session=%s id=%s reason=\"%s\"", t->session_id,
			  t->first_id, err[0] ? err : "write");
		if (tx)
			queue_tx_abort(tx);
		finish(t, "451 4.3.0 Queue write error");
		return;
	}
	free(buf);
	if (verdict == ATTEST_VERDICT_CLEAN)
		es->stamped++;
	else
		es->stamped_unscanned++;
	log_info("event=stamped id=%s scanned_as=%s verdict=%s removed_fields=%zu rewritten=%s",
		 queue_tx_id(tx), t->first_id, attest_verdict_name(verdict), nstrip,
		 content_fd >= 0 ? "yes" : "no");
	queue_tx_abort(t->tx);
	t->tx = tx;
	queue_tx_commit(tx, edge_smtp_committed, t);
}

void edge_smtp_verdict(struct edge_txn *t, const struct scan_reply *r, int content_fd,
		       const char *why)
{
	struct edge_smtp *es = t->es;
	if (t->timer) {
		event_free(t->timer);
		t->timer = NULL;
	}
	if (r && r->action == SCAN_REPLY_ACCEPT) {
		accept_message(t, r, content_fd, ATTEST_VERDICT_CLEAN);
	} else if (r && r->action == SCAN_REPLY_ACCEPT_UNSCANNED) {
		accept_message(t, r, content_fd, ATTEST_VERDICT_UNSCANNED);
	} else if (r && (r->action == SCAN_REPLY_REJECT || r->action == SCAN_REPLY_TEMPFAIL)) {
		es->scan_rejects++;
		log_info("event=rejected id=%s session=%s reply=\"%s\"", t->first_id, t->session_id,
			 r->reply);
		finish(t, r->reply);
	} else {
		es->scan_failures++;
		bool accept = strcmp(es->ctx->cfg.scan.on_scanner_failure, "accept") == 0;
		log_warning("event=scan-failed id=%s session=%s why=%s action=%s", t->first_id,
			    t->session_id, why ? why : "scanner-error",
			    accept ? "accept-unscanned" : "tempfail");
		if (accept)
			accept_message(t, NULL, -1, ATTEST_VERDICT_UNSCANNED);
		else
			finish(t, TEMPFAIL_SCANNER);
	}
	if (content_fd >= 0)
		close(content_fd);
}
