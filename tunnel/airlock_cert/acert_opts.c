/*
 * Options, paths and the saved role of airlock-cert (see acert_cmd.h).
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "common/errmsg.h"
#include "tunnel/airlock_cert/acert_params.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void acert_opts_defaults(struct acert_opts *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->swanctl_dir, sizeof(o->swanctl_dir), "/etc/swanctl");
	snprintf(o->strongswan_conf, sizeof(o->strongswan_conf), "/etc/strongswan.d/airlock.conf");
	snprintf(o->airlock_conf, sizeof(o->airlock_conf), "/etc/airlock/airlock-cert.conf");
	snprintf(o->state_dir, sizeof(o->state_dir), "/var/lib/airlock");
	snprintf(o->trusted_dir, sizeof(o->trusted_dir), "/var/lib/airlock/trusted-edges");
	snprintf(o->vici, sizeof(o->vici), "unix:///var/run/charon.vici");
	snprintf(o->local_addr, sizeof(o->local_addr), "%%any");
	snprintf(o->edge_addr, sizeof(o->edge_addr), "%%any");
	snprintf(o->dpd_delay, sizeof(o->dpd_delay), "30s");
	o->timeout_s = 30;
	o->days = ACERT_HOST_DAYS;
	o->lifetime_h = 24;
	o->if_expiring_days = -1;
	o->serve_port = ACERT_SERVE_PORT;
	snprintf(o->device, sizeof(o->device), "ipsec0");
}

void acert_opts_finish(struct acert_opts *o)
{
	if (!o->conn_file[0])
		(void)acert_pathf(o->conn_file, "%s/conf.d/airlock.conf", o->swanctl_dir);
	if (!o->ca_dir[0])
		(void)acert_pathf(o->ca_dir, "%s/ca", o->state_dir);
}

void acert_path(const struct acert_opts *o, enum acert_file f, char *out)
{
	const char *base = o->state_dir, *name = "";
	switch (f) {
	case ACERT_F_KEY:
		base = o->swanctl_dir, name = "private/airlock.key";
		break;
	case ACERT_F_CERT:
		base = o->swanctl_dir, name = "x509/airlock.crt";
		break;
	case ACERT_F_CA:
		base = o->swanctl_dir, name = "x509ca/" ACERT_CA_FILE;
		break;
	case ACERT_F_PARAMS:
		name = "airlock-cert.params";
		break;
	case ACERT_F_ATTEST_KEY:
		name = "attest.key";
		break;
	case ACERT_F_ATTEST_PUB:
		name = "attest.pub";
		break;
	case ACERT_F_CA_KEY:
		base = o->ca_dir, name = "ca.key";
		break;
	case ACERT_F_CA_CERT:
		base = o->ca_dir, name = "ca.crt";
		break;
	case ACERT_F_PENDING_KEY:
		name = "cert-pending/airlock.key";
		break;
	case ACERT_F_PENDING_CSR:
		name = "cert-pending/airlock.csr";
		break;
	case ACERT_F_PENDING_CERT:
		name = "cert-pending/airlock.crt";
		break;
	case ACERT_F_PENDING_ATTEST_KEY:
		name = "cert-pending/attest.key";
		break;
	case ACERT_F_PENDING_ATTEST_PUB:
		name = "cert-pending/attest.pub";
		break;
	}
	/* Path options are at most ACERT_PATH_OPT_MAX octets (main), so this fits. */
	(void)acert_pathf(out, "%s/%s", base, name);
}

int acert_read_text(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	unsigned char *buf;
	size_t n;
	if (acert_read_file(path, ACERT_PEM_MAX, &buf, &n, err, errlen) != 0)
		return -1;
	*out = (char *)buf;
	if (len)
		*len = n;
	return 0;
}

void acert_free_secret(char *text, size_t len)
{
	if (!text)
		return;
	sodium_memzero(text, len);
	free(text);
}

int acert_load_role(const struct acert_opts *o, char *role, size_t rolelen, struct acert_conn *conn,
		    char *err, size_t errlen)
{
	char path[ACERT_PATH_MAX], why[200];
	acert_path(o, ACERT_F_PARAMS, path);
	char *text;
	size_t len;
	if (acert_read_text(path, &text, &len, why, sizeof(why)) != 0)
		return errmsg_set(err, errlen, "%s (run airlock-cert init or enroll first)", why);
	struct acert_params *p = malloc(sizeof(*p));
	int rc = -1;
	if (!p) {
		errmsg_set(err, errlen, "out of memory");
	} else if (acert_params_parse(text, len, p, why, sizeof(why)) != 0) {
		errmsg_set(err, errlen, "%s: %s", path, why);
	} else if (!acert_params_get(p, "role") || (strcmp(acert_params_get(p, "role"), "hub") &&
						    strcmp(acert_params_get(p, "role"), "edge"))) {
		errmsg_set(err, errlen, "%s: role must be hub or edge", path);
	} else if (acert_conn_from_params(p, conn, why, sizeof(why)) != 0) {
		errmsg_set(err, errlen, "%s: %s", path, why);
	} else {
		snprintf(role, rolelen, "%s", acert_params_get(p, "role"));
		rc = 0;
	}
	free(p);
	free(text);
	return rc;
}

int acert_path_valid(const char *path)
{
	if (path[0] != '/')
		return 0;
	for (const char *s = path; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

int acert_ca_load(const struct acert_opts *o, EVP_PKEY **key, X509 **cert, char *err, size_t errlen)
{
	char path[ACERT_PATH_MAX], *pem = NULL;
	size_t len = 0;
	*key = NULL;
	*cert = NULL;
	acert_path(o, ACERT_F_CA_KEY, path);
	if (acert_read_text(path, &pem, &len, err, errlen) != 0)
		return -1;
	*key = acert_key_from_pem(pem, len, err, errlen);
	acert_free_secret(pem, len);
	if (!*key)
		return -1;
	acert_path(o, ACERT_F_CA_CERT, path);
	pem = NULL;
	len = 0;
	if (acert_read_text(path, &pem, &len, err, errlen) == 0) {
		*cert = acert_cert_from_pem(pem, len, err, errlen);
		free(pem);
		if (*cert)
			return 0;
	}
	EVP_PKEY_free(*key);
	*key = NULL;
	return -1;
}

int acert_ca_issue(const struct acert_opts *o, const char *id, EVP_PKEY **key, X509 **cert,
		   char **key_pem, size_t *key_len, char **cert_pem, size_t *cert_len, char *err,
		   size_t errlen)
{
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL;
	*key = NULL;
	*cert = NULL;
	*key_pem = NULL;
	*cert_pem = NULL;
	int rc = acert_ca_load(o, &cakey, &ca, err, errlen) != 0 ||
				 !(*key = acert_key_new(err, errlen)) ||
				 !(*cert = acert_cert_issue(ca, cakey, *key, id, o->days, err,
							    errlen)) ||
				 !(*key_pem = acert_key_pem(*key, key_len, err, errlen)) ||
				 !(*cert_pem = acert_cert_pem(*cert, cert_len, err, errlen))
			 ? -1
			 : 0;
	EVP_PKEY_free(cakey);
	X509_free(ca);
	return rc;
}
