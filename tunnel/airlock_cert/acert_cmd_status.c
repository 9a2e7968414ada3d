/*
 * airlock-cert status: every certificate this host deals with — the CA and
 * its own from the files, and everything charon holds (its own, the CA, the
 * peers' certificates it received) — with subject, serial, issuer, days
 * left and whether charon has the private key (list-certs has_privkey).
 * One line per certificate, key=value, for people and scripts alike.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "tunnel/airlock_cert/acert_vici.h"
#include "tunnel/cert_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#define SEEN_MAX 64

static int file_info(const char *path, struct cert_info *ci)
{
	char *pem, err[256];
	size_t len;
	if (acert_read_text(path, &pem, &len, err, sizeof(err)) != 0)
		return -1;
	X509 *x = acert_cert_from_pem(pem, len, err, sizeof(err));
	free(pem);
	if (!x)
		return -1;
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	X509_free(x);
	int rc = n > 0 ? cert_info_from_der(der, (size_t)n, ci) : -1;
	OPENSSL_free(der);
	return rc;
}

static void print_cert(const char *role, const struct cert_info *ci, const char *has_key,
		       const char *source, time_t now)
{
	printf("%-5s subject=\"%s\" serial=%s issuer=\"%s\" days_left=%ld has_privkey=%s "
	       "source=%s\n",
	       role, ci->subject, ci->serial, ci->issuer, cert_info_days_left(ci, now), has_key,
	       source);
}

int acert_cmd_status(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], path[ACERT_PATH_MAX], role[16] = "?";
	struct acert_conn c;
	time_t now = time(NULL);
	struct cert_info own, ca;
	int have_own, have_ca;
	if (acert_load_role(o, role, sizeof(role), &c, err, sizeof(err)) != 0)
		fprintf(stderr, "airlock-cert: %s\n", err);
	acert_path(o, ACERT_F_CERT, path);
	have_own = file_info(path, &own) == 0;
	acert_path(o, ACERT_F_CA, path);
	have_ca = file_info(path, &ca) == 0;
	printf("role=%s vici=%s\n", role, o->vici);

	struct vici_node **evs = NULL;
	size_t n = 0;
	struct acert_vici *v =
		o->no_vici ? NULL
			   : acert_vici_open(o->vici, o->timeout_s * 1000, 0, err, sizeof(err));
	int listed = 0;
	if (v) {
		struct vici_builder *b = vici_builder_new();
		vici_add_kv(b, "type", "X509");
		listed = acert_vici_stream(v, "list-certs", b, "list-cert", &evs, &n, err,
					   sizeof(err)) == 0;
		acert_vici_free(v);
	}
	if (!listed && !o->no_vici)
		fprintf(stderr, "airlock-cert: charon not asked: %s\n", err);
	int own_seen = 0, ca_seen = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vici_node *data = vici_child(evs[i], "data");
		struct cert_info ci;
		if (!data || data->type != VICI_NODE_VALUE ||
		    cert_info_from_der(data->value, data->value_len, &ci) != 0)
			continue;
		const char *flag = vici_str(evs[i], "flag");
		const char *r = "peer";
		if (flag && strcmp(flag, "CA") == 0) {
			r = "ca";
			ca_seen |= have_ca && strcmp(ci.serial, ca.serial) == 0;
		} else if (have_own && strcmp(ci.serial, own.serial) == 0) {
			r = "own";
			own_seen = 1;
		} else if (have_own && strcmp(ci.subject, own.subject) == 0) {
			r = "old"; /* a previous own certificate, kept by charon */
		}
		print_cert(r, &ci, vici_yes(evs[i], "has_privkey") ? "yes" : "no", "charon", now);
	}
	acert_vici_events_free(evs, n);
	const char *unknown = listed ? "no" : "unknown";
	if (have_ca && !ca_seen)
		print_cert("ca", &ca, unknown, "file", now);
	if (have_own && !own_seen)
		print_cert("own", &own, unknown, "file", now);
	if (!have_own && !have_ca && !n) {
		fprintf(stderr, "airlock-cert: no certificates found (run init or enroll)\n");
		return 1;
	}
	return 0;
}
