/*
 * The end of a scanned transaction in the smtp process: a verdict becomes a
 * reply, and an accepted message is stamped in its own spool transaction,
 * as [X-Airlock-Scan:][result header:][content], which is then committed:
 * one file per message. The stamp hashes the body as it will be sent and
 * sits in front of the content; the stamp names the transaction's queue id,
 * which is the id the message is queued under. Two ways:
 *  - in place (stamp_in_place()), for nearly every message: the content is
 *    what was received and its header section loses nothing; the new fields
 *    go into the room left in front of it (queue_tx_prefix()), with the
 *    body hash taken while the content was received;
 *  - whole (stamp_rewrite()), when the scanner rewrote the content
 *    (attachments stripped, headers edited) or incoming X-Airlock-* fields or
 *    result header copies must go: the file is started over
 *    (queue_tx_restart()) with the stamped content.
 * Both write the envelope again, since the rules may have changed the
 * recipients.
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
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/attest.h"
#include "relay/attest_edit.h"
#include "relay/scan_quarantine.h"
#include "relay/scan_rewrite.h"

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

/* The temp file read-only: the descriptor the scanner got, or a new one. */
static int txn_read_fd(struct edge_txn *t)
{
	if (t->read_fd < 0)
		t->read_fd = queue_tx_read_fd(t->tx);
	return t->read_fd;
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
	int fd = txn_read_fd(t);
	if (fd < 0)
		return NULL;
	*len = (size_t)queue_tx_content_size(t->tx);
	return read_range(fd, queue_tx_content_offset(t->tx), *len);
}

static void finish(struct edge_txn *t, const char *reply)
{
	queue_tx_abort(t->tx);
	t->tx = NULL;
	t->done(t->cookie, reply);
	edge_txn_free(t);
}

/*
 * The text of scan.result_header: "clean (ClamAV 1.4.6, db 27000)" only for
 * a completed scan that found nothing; "infected (NAME)" for a virus kept in
 * quarantine; else "unscanned". Octets outside printable ASCII become '?'.
 */
static void result_text(const struct scan_reply *r, enum attest_verdict verdict, char *out,
			size_t size)
{
	if (verdict == ATTEST_VERDICT_CLEAN && r)
		snprintf(out, size, "clean (%s, db %s)", r->engine, r->db);
	else if (r && r->action == SCAN_REPLY_QUARANTINE &&
		 strncmp(r->quarantine, "virus ", 6) == 0)
		snprintf(out, size, "infected (%s)", r->quarantine + 6);
	else
		snprintf(out, size, "unscanned");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

#define RESULT_TEXT_MAX (SCAN_REPLY_TEXT_MAX + 2 * SCAN_REPLY_ENGINE_MAX)

/*
 * The content to keep: the final content with the header edits of a stamp
 * (attest_edit.h). NULL on error.
 */
static char *prepare_content(struct edge_txn *t, const struct scan_reply *r, int content_fd,
			     enum attest_verdict verdict, size_t *len, size_t *nstrip)
{
	char value[RESULT_TEXT_MAX], *out = NULL;
	char *buf = final_content(t, content_fd, len);
	if (!buf)
		return NULL;
	result_text(r, verdict, value, sizeof(value));
	if (attest_edit(buf, *len, t->es->ctx->cfg.scan.result_header, value, &out, len, nstrip) <
	    0)
		out = NULL;
	free(buf);
	return out;
}

/* Formats the signed X-Airlock-Scan field for id and a body hash into field; its length or -1. */
static int stamp(struct edge_txn *t, const struct scan_reply *r, enum attest_verdict verdict,
		 const char *id, const unsigned char hash[ATTEST_HASH_LEN],
		 char field[ATTEST_FIELD_MAX], char *err, size_t errlen)
{
	struct attest_stamp st;
	memset(&st, 0, sizeof(st));
	snprintf(st.id, sizeof(st.id), "%s", id);
	st.time = time(NULL);
	snprintf(st.engine, sizeof(st.engine), "%s", r && r->engine[0] ? r->engine : "none");
	snprintf(st.db, sizeof(st.db), "%s", r && r->db[0] ? r->db : "none");
	st.verdict = verdict;
	memcpy(st.body_hash, hash, ATTEST_HASH_LEN);
	int flen = -1;
	if (attest_sign(&st, t->es->signer) == 0)
		flen = attest_format_field(&st, field, ATTEST_FIELD_MAX);
	if (flen < 0)
		snprintf(err, errlen, "cannot stamp (engine \"%s\", db \"%s\")", st.engine, st.db);
	return flen;
}

/* The stamp of buf[0..len), the whole content as it will be kept. */
static int stamp_buffer(struct edge_txn *t, const struct scan_reply *r, enum attest_verdict verdict,
			const char *id, const char *buf, size_t len, char field[ATTEST_FIELD_MAX],
			char *err, size_t errlen)
{
	unsigned char hash[ATTEST_HASH_LEN];
	attest_body_hash(buf, len, hash);
	return stamp(t, r, verdict, id, hash, field, err, errlen);
}

/* A header section longer than this is not read for stamp_in_place(). */
#define STAMP_HEADER_MAX (256 * 1024)

/*
 * The stamp without writing the message again, for content the scanner did
 * not change and whose header edits only add fields at the top (nearly
 * every message): the stamp and those fields go in front of the content
 * through the room left in the envelope (queue_tx_prefix()), the body hash
 * comes from the content as it was written (t->as), and only the header
 * section is read back. Returns 0 when done, 1 when it cannot be done so
 * (nothing written: stamp the whole message instead), -1 on a failure (err),
 * as queue_tx_prefix().
 */
static int stamp_in_place(struct edge_txn *t, const struct scan_reply *r,
			  enum attest_verdict verdict, char *err, size_t errlen)
{
	uint64_t hlen = attest_stream_header_len(&t->as);
	if (hlen > STAMP_HEADER_MAX)
		return 1;
	int fd = txn_read_fd(t);
	char *hdr = fd < 0 ? NULL : read_range(fd, queue_tx_content_offset(t->tx), (size_t)hlen);
	if (!hdr) {
		snprintf(err, errlen, "cannot read the header section");
		return -1;
	}
	char value[RESULT_TEXT_MAX], *prefix = NULL;
	size_t plen = 0;
	result_text(r, verdict, value, sizeof(value));
	int rc = attest_edit_prefix(hdr, (size_t)hlen, t->es->ctx->cfg.scan.result_header, value,
				    &prefix, &plen);
	free(hdr);
	if (rc <= 0) {
		if (rc < 0)
			snprintf(err, errlen, "out of memory");
		return rc < 0 ? -1 : 1;
	}
	unsigned char hash[ATTEST_HASH_LEN];
	char head[ATTEST_FIELD_MAX + EDGE_STAMP_RESERVE];
	attest_stream_body_hash(&t->as, hash);
	int flen = stamp(t, r, verdict, queue_tx_id(t->tx), hash, head, err, errlen);
	if (flen < 0) {
		rc = -1;
	} else if (plen > sizeof(head) - (size_t)flen) {
		rc = 1; /* more than the room could take anyway */
	} else {
		memcpy(head + flen, prefix, plen);
		rc = queue_tx_prefix(t->tx, &t->env, head, (size_t)flen + plen, err, errlen);
	}
	free(prefix);
	return rc;
}

/*
 * The envelope changes of the rules: redirect replaces every recipient,
 * each bcc is added unless already there. Returns 0, or -1 (out of memory,
 * too many recipients).
 */
static int apply_envelope(struct queue_envelope *env, const struct scan_reply *r)
{
	if (r->redirect[0]) {
		for (size_t i = 0; i < env->nrcpts; i++)
			free(env->rcpts[i]);
		env->nrcpts = 0;
		if (queue_envelope_add_rcpt(env, r->redirect) < 0)
			return -1;
	}
	for (unsigned b = 0; b < r->nbcc; b++) {
		bool have = false;
		for (size_t i = 0; i < env->nrcpts && !have; i++)
			have = strcasecmp(env->rcpts[i], r->bcc[b]) == 0;
		if (!have && queue_envelope_add_rcpt(env, r->bcc[b]) < 0)
			return -1;
	}
	return 0;
}

/* The stamped message written over the whole transaction again (queue_tx_restart()). */
static int stamp_rewrite(struct edge_txn *t, const struct scan_reply *r, int content_fd,
			 enum attest_verdict verdict, size_t *nstrip, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = prepare_content(t, r, content_fd, verdict, &len, nstrip);
	if (!buf) {
		snprintf(err, errlen, "cannot read the content");
		return -1;
	}
	struct queue_tx *tx = t->tx;
	char field[ATTEST_FIELD_MAX];
	int flen = stamp_buffer(t, r, verdict, queue_tx_id(tx), buf, len, field, err, errlen);
	int rc = flen < 0 || queue_tx_restart(tx, &t->env, err, errlen) < 0 ||
				 queue_tx_write(tx, field, (size_t)flen) < 0 ||
				 queue_tx_write(tx, buf, len) < 0
			 ? -1
			 : 0;
	free(buf);
	return rc;
}

/* Stamps and commits; on failure answers 451 and frees t. */
static void accept_message(struct edge_txn *t, const struct scan_reply *r, int content_fd,
			   enum attest_verdict verdict)
{
	struct edge_smtp *es = t->es;
	char err[256] = "";
	size_t nstrip = 0;
	/* in place: 0 done, 1 the whole message instead, -1 failed */
	int in_place = content_fd < 0 ? stamp_in_place(t, r, verdict, err, sizeof(err)) : 1;
	if (in_place < 0 || (in_place == 1 && stamp_rewrite(t, r, content_fd, verdict, &nstrip, err,
							    sizeof(err)) < 0)) {
		es->queue_write_errors++;
		log_error("event=queue-error session=%s id=%s reason=\"%s\"", t->session_id,
			  t->first_id, err[0] ? err : "write");
		finish(t, "451 4.3.0 Queue write error");
		return;
	}
	struct queue_tx *tx = t->tx;
	if (verdict == ATTEST_VERDICT_CLEAN)
		es->stamped++;
	else
		es->stamped_unscanned++;
	log_info("event=stamped id=%s scanned_as=%s verdict=%s removed_fields=%zu rewritten=%s "
		 "written=%s rcpts=%zu",
		 queue_tx_id(tx), t->first_id, attest_verdict_name(verdict), nstrip,
		 content_fd >= 0 ? "yes" : "no", in_place == 0 ? "prefix" : "whole", t->env.nrcpts);
	t->tx = NULL; /* the spool owns it now */
	queue_tx_commit(tx, edge_smtp_committed, t);
}

/* The message could not be quarantined: counted, logged, and the client gets 451. */
static void quarantine_failed(struct edge_txn *t, const char *why)
{
	t->es->queue_write_errors++;
	log_error("event=quarantine-error session=%s id=%s reason=\"%s\"", t->session_id,
		  t->first_id, why);
	finish(t, "451 4.3.0 Queue write error");
}

/* A message on its way into the quarantine: stored on the spool's commit thread. */
struct quarantine_job {
	struct edge_txn *t; /* the sink's until the reply (smtp_server.h) */
	char *content;	    /* the stamped message */
	size_t len;
	char reason[SCAN_REPLY_TEXT_MAX + 1];
	int rc;
	char err[256];
};

/* On the commit thread: the file, its fdatasync, the rename and the directory fsync. */
static void quarantine_store(void *arg)
{
	struct quarantine_job *q = arg;
	q->rc = scan_quarantine_store(q->t->es->quarantine, &q->t->env, q->reason, q->content,
				      q->len, q->err, sizeof(q->err));
}

/* Back in the loop: the reply, 250 once it is stored, else 451. */
static void quarantine_stored(void *arg)
{
	struct quarantine_job *q = arg;
	struct edge_txn *t = q->t;
	struct edge_smtp *es = t->es;
	char reply[128], why[SCAN_REPLY_TEXT_MAX + 64];
	free(q->content);
	if (q->rc < 0) {
		quarantine_failed(t, q->err);
		free(q);
		return;
	}
	es->quarantined++;
	log_info("event=quarantined id=%s scanned_as=%s session=%s from=<%s> rcpts=%zu reason=%s",
		 t->env.id, t->first_id, t->session_id, t->env.from ? t->env.from : "",
		 t->env.nrcpts, log_quote(why, sizeof(why), q->reason));
	free(q);
	snprintf(reply, sizeof(reply), "250 2.0.0 Ok: queued as %s", t->env.id);
	finish(t, reply);
}

/*
 * Keeps the message in quarantine, stamped like an accepted one (so that a
 * release delivers it like any other), and answers 250 once it is stored
 * (on the spool's commit thread: the event loop does not wait for its
 * fsyncs): the client sees the same reply as for delivered mail, so that
 * rules cannot be probed from outside. On failure answers 451.
 */
static void quarantine_message(struct edge_txn *t, const struct scan_reply *r, int content_fd)
{
	struct edge_smtp *es = t->es;
	enum attest_verdict verdict = r->clean ? ATTEST_VERDICT_CLEAN : ATTEST_VERDICT_UNSCANNED;
	char err[256] = "", field[ATTEST_FIELD_MAX];
	size_t len = 0, nstrip = 0;
	char *buf = prepare_content(t, r, content_fd, verdict, &len, &nstrip);
	struct quarantine_job *q = NULL;
	int flen = -1;
	queue_id_new(t->env.id);
	if (buf)
		flen = stamp_buffer(t, r, verdict, t->env.id, buf, len, field, err, sizeof(err));
	if (flen >= 0 && es->quarantine && (q = calloc(1, sizeof(*q))) != NULL &&
	    (q->content = malloc((size_t)flen + len + 1)) != NULL) {
		memcpy(q->content, field, (size_t)flen);
		memcpy(q->content + flen, buf, len);
		q->len = (size_t)flen + len;
		q->t = t;
		snprintf(q->reason, sizeof(q->reason), "%s", r->quarantine);
	}
	free(buf);
	if (!q || !q->content) {
		free(q);
		quarantine_failed(t, err[0]	      ? err
				     : es->quarantine ? "cannot prepare the content"
						      : "no quarantine");
		return;
	}
	queue_spool_run_job(es->spool, quarantine_store, quarantine_stored, q);
}

void edge_smtp_verdict(struct edge_txn *t, const struct scan_reply *r, int content_fd,
		       const char *why)
{
	struct edge_smtp *es = t->es;
	if (t->timer) {
		event_free(t->timer);
		t->timer = NULL;
	}
	bool keep =
		r && (r->action == SCAN_REPLY_ACCEPT || r->action == SCAN_REPLY_ACCEPT_UNSCANNED ||
		      r->action == SCAN_REPLY_QUARANTINE);
	if (keep && apply_envelope(&t->env, r) < 0) {
		log_error("event=queue-error session=%s id=%s reason=\"envelope changes\"",
			  t->session_id, t->first_id);
		finish(t, "451 4.3.0 Queue write error");
	} else if (r && r->action == SCAN_REPLY_ACCEPT) {
		accept_message(t, r, content_fd, ATTEST_VERDICT_CLEAN);
	} else if (r && r->action == SCAN_REPLY_ACCEPT_UNSCANNED) {
		accept_message(t, r, content_fd, ATTEST_VERDICT_UNSCANNED);
	} else if (r && r->action == SCAN_REPLY_QUARANTINE) {
		quarantine_message(t, r, content_fd);
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
