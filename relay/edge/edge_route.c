/*
 * Scan requests and verdicts between smtp and scan, through the parent.
 */
#include "relay/edge/edge_route.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/edge/edge.h"
#include "relay/queue_file.h"
#include "relay/scan_reply.h"

struct route_entry {
	unsigned gen;
	uint32_t seq;
	struct route_entry *next;
};

struct edge_route {
	struct route_entry *head;
	unsigned n;
};

struct edge_route *edge_route_new(void)
{
	struct edge_route *r = calloc(1, sizeof(*r));
	if (!r)
		fatal("out of memory");
	return r;
}

void edge_route_free(struct edge_route *r)
{
	if (!r)
		return;
	while (r->head) {
		struct route_entry *e = r->head;
		r->head = e->next;
		free(e);
	}
	free(r);
}

unsigned edge_route_in_flight(const struct edge_route *r)
{
	return r->n;
}

static void answer_failed(struct ipc_chan *smtp, uint32_t seq, const char *why)
{
	if (!smtp)
		return;
	struct scan_reply rep;
	memset(&rep, 0, sizeof(rep));
	rep.seq = seq;
	rep.action = SCAN_REPLY_FAILED;
	snprintf(rep.log, sizeof(rep.log), " verdict=error reason=%s", why);
	struct ipc_writer w;
	ipc_writer_init(&w);
	scan_reply_put(&w, &rep);
	ipc_send_writer(smtp, EDGE_MSG_SCAN_REP, &w, -1);
	ipc_writer_free(&w);
}

int edge_route_request(struct edge_route *r, struct ipc_chan *smtp, unsigned smtp_gen,
		       struct ipc_chan *scan, struct ipc_reader *rd, int fd)
{
	uint32_t seq;
	char id[QUEUE_ID_MAX + 1];
	if (fd < 0 || ipc_get_u32(rd, &seq) < 0 || ipc_get_str(rd, id, sizeof(id)) < 0 ||
	    ipc_get_end(rd) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!scan || ipc_send(scan, EDGE_MSG_SCAN_REQ, rd->p, rd->len, fd) < 0) {
		close(fd);
		log_warning("event=scan-unavailable id=%s", id);
		answer_failed(smtp, seq, "scanner-unavailable");
		return 0;
	}
	close(fd);
	struct route_entry *e = malloc(sizeof(*e));
	if (!e)
		fatal("out of memory");
	*e = (struct route_entry){smtp_gen, seq, r->head};
	r->head = e;
	r->n++;
	return 0;
}

int edge_route_reply(struct edge_route *r, struct ipc_chan *smtp, unsigned smtp_gen,
		     struct ipc_reader *rd, int fd)
{
	struct scan_reply rep;
	if (scan_reply_get(rd, &rep) < 0 || rep.has_content != (fd >= 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct route_entry **pp = &r->head;
	while (*pp && (*pp)->seq != rep.seq)
		pp = &(*pp)->next;
	struct route_entry *e = *pp;
	/* Several generations may share a seq: take the current one first. */
	for (struct route_entry **q = pp; *q; q = &(*q)->next) {
		if ((*q)->seq == rep.seq && (*q)->gen == smtp_gen) {
			pp = q;
			e = *q;
			break;
		}
	}
	if (e) {
		*pp = e->next;
		r->n--;
	}
	if (e && e->gen == smtp_gen && smtp)
		ipc_send(smtp, EDGE_MSG_SCAN_REP, rd->p, rd->len, fd);
	free(e);
	if (fd >= 0)
		close(fd);
	return 0;
}

void edge_route_scan_closed(struct edge_route *r, struct ipc_chan *smtp, unsigned smtp_gen)
{
	while (r->head) {
		struct route_entry *e = r->head;
		r->head = e->next;
		if (e->gen == smtp_gen)
			answer_failed(smtp, e->seq, "scanner-died");
		free(e);
	}
	r->n = 0;
}
