/*
 * The configuration fragments airlock-cert writes, all generated from one
 * description of the IKE connection (struct acert_conn):
 *
 *  - a swanctl.conf connection: certificate authentication with identity-
 *    based certificate selection (local.id set, no local.certs pinned, so
 *    that make-before-break reauthentication picks up a rotated certificate;
 *    notes/strongswan.md), the peer's CA pinned with remote.cacerts;
 *  - the same connection as a VICI load-conn message (the CA given as PEM);
 *  - a strongswan.conf fragment with charon.make_before_break = yes;
 *  - airlock.conf fragments for the hub (tunnel and hub keys) and the edge
 *    (tunnel keys and edge.hubs).
 *
 * Every value that ends up in a configuration file is checked against a
 * narrow character set first, so that no value can break out of its line.
 */
#ifndef AIRLOCK_ACERT_FRAG_H
#define AIRLOCK_ACERT_FRAG_H

#include <stddef.h>

#include "tunnel/airlock_cert/acert_params.h"
#include "tunnel/vici_msg.h"

#define ACERT_CONN_NAME "airlock"
#define ACERT_CA_FILE	"airlock-ca.crt" /* in the swanctl x509ca directory */

struct acert_conn {
	char name[64], child[64];
	char local_addrs[256], remote_addrs[256]; /* comma separated, "%any" allowed */
	char local_id[256], remote_id[256];	  /* remote "%any": any cert of the CA */
	char local_ts[256], remote_ts[256];	  /* comma separated subnets */
	char start_action[16];			  /* none, trap or start */
	char dpd_delay[16];			  /* e.g. "30s" */
	int encap;				  /* force UDP encapsulation */
};

/* Defaults: name and child "airlock", start_action none, dpd_delay 30s, encap yes. */
void acert_conn_defaults(struct acert_conn *c);

/* Checks every field's character set and that the required ones are set. Returns 0 or -1. */
int acert_conn_check(const struct acert_conn *c, char *err, size_t errlen);

/* To and from parameters (keys conn, child, local_addrs, ... encap). from_params checks. */
int acert_conn_to_params(const struct acert_conn *c, struct acert_params *p, char *err,
			 size_t errlen);
int acert_conn_from_params(const struct acert_params *p, struct acert_conn *c, char *err,
			   size_t errlen);

/* The swanctl.conf connection text (new buffer, free()); NULL when out of memory. */
char *acert_frag_swanctl(const struct acert_conn *c);

/*
 * The load-conn message for c, with the CA certificate ca_pem (PEM text) as
 * remote.cacerts. Gets owned by the caller (vici_builder_free), NULL when out
 * of memory.
 */
struct vici_builder *acert_frag_vici_conn(const struct acert_conn *c, const char *ca_pem);

/* The strongswan.conf fragment (static text). */
const char *acert_frag_strongswan(void);

/*
 * airlock.conf fragment of the hub: tunnel.connection/child/local_address,
 * hub.listen (inner address:25), hub.connections, hub.trusted_keys.
 */
char *acert_frag_airlock_hub(const struct acert_conn *c, const char *trusted_dir);

/*
 * airlock.conf fragment of an edge: tunnel.connection/child/local_address,
 * edge.state_dir and edge.hubs with the hub's inner address:25.
 */
char *acert_frag_airlock_edge(const struct acert_conn *c, const char *state_dir);

/* The first address of a traffic selector list without its prefix ("192.0.2.1/32,..." ->
 * "192.0.2.1"). */
void acert_ts_address(const char *ts, char *out, size_t outlen);

#endif
