/*
 * The human view of a tunnel snapshot: a compact block per connection that a
 * person on call reads at a glance.
 */
#include "tunnel/airlockctl/ctl.h"

#include <inttypes.h>
#include <string.h>

/* "3d04h", "2h05m", "4m10s", "12s"; "-" when unset. */
static const char *fmt_duration(char *out, size_t outsz, int set, int64_t secs)
{
	if (!set) {
		snprintf(out, outsz, "-");
		return out;
	}
	const char *sign = secs < 0 ? "-" : "";
	uint64_t s = secs < 0 ? (uint64_t)(-secs) : (uint64_t)secs;
	if (s >= 86400)
		snprintf(out, outsz, "%s%" PRIu64 "d%02" PRIu64 "h", sign, s / 86400,
			 s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, outsz, "%s%" PRIu64 "h%02" PRIu64 "m", sign, s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, outsz, "%s%" PRIu64 "m%02" PRIu64 "s", sign, s / 60, s % 60);
	else
		snprintf(out, outsz, "%s%" PRIu64 "s", sign, s);
	return out;
}

static const char *fmt_bytes(char *out, size_t outsz, uint64_t b)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	size_t u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%" PRIu64 " B", b);
	else
		snprintf(out, outsz, "%.1f %s", v, units[u]);
	return out;
}

static const char *or_dash(const char *s)
{
	return s && s[0] ? s : "-";
}

static void render_ts(FILE *out, const struct sa_ts_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		fprintf(out, "%s%s", i ? "," : "", l->text[i]);
	if (l->count == 0)
		fputs("-", out);
}

static void render_child(FILE *out, const struct sa_child *c)
{
	char d1[32], d2[32], d3[32], b1[32], b2[32], u1[32], u2[32];
	fprintf(out, "    CHILD %s #%u  %s  %s %s%s  reqid %u  SPI in %s out %s\n",
		or_dash(c->name), c->uniqueid, or_dash(c->state), or_dash(c->mode),
		or_dash(c->protocol), c->encap ? "/UDP" : "", c->reqid, or_dash(c->spi_in),
		or_dash(c->spi_out));
	fputs("          ", out);
	render_ts(out, &c->local_ts);
	fputs(" === ", out);
	render_ts(out, &c->remote_ts);
	fputc('\n', out);
	if (c->encr_alg) {
		fprintf(out, "          %s", c->encr_alg);
		if (c->encr_keysize)
			fprintf(out, "-%u", c->encr_keysize);
		if (c->integ_alg)
			fprintf(out, "/%s", c->integ_alg);
		if (c->dh_group)
			fprintf(out, "/%s", c->dh_group);
		fprintf(out, "  installed %s ago  rekey in %s  expires in %s\n",
			fmt_duration(d1, sizeof(d1), c->install_time.set, c->install_time.value),
			fmt_duration(d2, sizeof(d2), c->rekey_time.set, c->rekey_time.value),
			fmt_duration(d3, sizeof(d3), c->life_time.set, c->life_time.value));
	}
	fprintf(out, "          in  %10s %8" PRIu64 " pkts  last %s ago\n",
		fmt_bytes(b1, sizeof(b1), c->bytes_in), c->packets_in,
		fmt_duration(u1, sizeof(u1), c->use_in.set, (int64_t)c->use_in.value));
	fprintf(out, "          out %10s %8" PRIu64 " pkts  last %s ago\n",
		fmt_bytes(b2, sizeof(b2), c->bytes_out), c->packets_out,
		fmt_duration(u2, sizeof(u2), c->use_out.set, (int64_t)c->use_out.value));
}

static void render_ike(FILE *out, const struct sa_ike *ike)
{
	char d1[32], d2[32], d3[32];
	fprintf(out, "  IKE #%u  %s  IKEv%u %s  %s[%u] %s <-> %s[%u] %s\n", ike->uniqueid,
		or_dash(ike->state), ike->version, ike->initiator ? "initiator" : "responder",
		or_dash(ike->local_host), ike->local_port, or_dash(ike->local_id),
		or_dash(ike->remote_host), ike->remote_port, or_dash(ike->remote_id));
	if (ike->encr_alg) {
		fprintf(out, "          %s", ike->encr_alg);
		if (ike->encr_keysize)
			fprintf(out, "-%u", ike->encr_keysize);
		if (ike->integ_alg)
			fprintf(out, "/%s", ike->integ_alg);
		fprintf(out, "/%s/%s", or_dash(ike->prf_alg), or_dash(ike->dh_group));
	} else {
		fputs("          -", out);
	}
	fprintf(out, "  up %s  rekey in %s  reauth in %s\n",
		fmt_duration(d1, sizeof(d1), ike->established.set, ike->established.value),
		fmt_duration(d2, sizeof(d2), ike->rekey_time.set, ike->rekey_time.value),
		fmt_duration(d3, sizeof(d3), ike->reauth_time.set, ike->reauth_time.value));
	for (size_t i = 0; i < ike->child_count; i++)
		render_child(out, &ike->children[i]);
	if (ike->child_count == 0)
		fputs("    no CHILD_SA\n", out);
}

static void render_conn(FILE *out, const struct tunnel_status *st, const char *name,
			const struct tunnel_conn *c)
{
	if (c)
		fprintf(out, "connection %s  %s  %s -> %s  %s -> %s  children %s\n", name,
			or_dash(c->version), or_dash(c->local_addrs), or_dash(c->remote_addrs),
			or_dash(c->local_id), or_dash(c->remote_id), or_dash(c->children));
	else
		fprintf(out, "connection %s  (no longer loaded)\n", name);
	int any = 0;
	for (size_t i = 0; i < sa_table_ike_count(st->sas); i++) {
		const struct sa_ike *ike = sa_table_ike_at(st->sas, i);
		if (ike->name && strcmp(ike->name, name) == 0) {
			render_ike(out, ike);
			any = 1;
		}
	}
	if (!any)
		fputs("  no IKE_SA\n", out);
}

void ctl_render_status(FILE *out, const struct tunnel_status *st, const struct tunnel_check *chk,
		       time_t now)
{
	char stamp[32];
	struct tm tm;
	gmtime_r(&st->collected_at, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%SZ", &tm);
	fprintf(out, "tunnel: %s  %s%s%s  %s\n", st->uri, or_dash(st->daemon),
		st->backend[0] ? " " : "", st->backend, stamp);
	fprintf(out, "check:  %s: %s\n\n", tunnel_check_level_str(chk->level), chk->text);
	if (!st->reachable)
		return;

	for (size_t i = 0; i < st->nconns; i++)
		render_conn(out, st, st->conns[i].name, &st->conns[i]);
	for (size_t i = 0; i < sa_table_ike_count(st->sas); i++) {
		const struct sa_ike *ike = sa_table_ike_at(st->sas, i);
		int seen = 0;
		for (size_t j = 0; j < st->nconns && !seen; j++)
			seen = ike->name && strcmp(st->conns[j].name, ike->name) == 0;
		for (size_t j = 0; j < i && !seen; j++) {
			const struct sa_ike *prev = sa_table_ike_at(st->sas, j);
			seen = prev->name && ike->name && strcmp(prev->name, ike->name) == 0;
		}
		if (!seen && ike->name)
			render_conn(out, st, ike->name, NULL);
	}
	if (st->nconns == 0 && sa_table_ike_count(st->sas) == 0)
		fputs("no connections loaded\n", out);

	fputs("\ncertificates:\n", out);
	if (st->ncerts == 0)
		fputs("  none\n", out);
	for (size_t i = 0; i < st->ncerts; i++) {
		const struct cert_info *ci = &st->certs[i];
		char na[32];
		gmtime_r(&ci->not_after, &tm);
		strftime(na, sizeof(na), "%Y-%m-%d", &tm);
		fprintf(out, "  %-40s serial %s  expires %s (%ld days)  %s\n", ci->subject,
			ci->serial, na, cert_info_days_left(ci, now),
			ci->has_private_key ? "local, key loaded" : "peer/cached");
	}
}
