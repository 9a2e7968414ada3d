/*
 * The edge side of pairing without charon: open and check a bundle, then
 * install its files. Split from the command so that unit tests can run it
 * on temporary directories.
 *
 * acert_enroll_open() does every check before anything is written: the
 * sealed file (size, passphrase, integrity, expiry: cert_bundle_open), that
 * every entry an edge needs is there, that the edge key matches the edge
 * certificate, that the certificate verifies against the bundled CA and
 * carries the edge name as its identity, that the connection parameters
 * parse and name that identity, and that the attestation key lines are
 * well formed.
 */
#ifndef AIRLOCK_ACERT_ENROLL_H
#define AIRLOCK_ACERT_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/airlock_cert/acert_cmd.h"
#include "tunnel/cert_bundle.h"

/* Bundle entries beyond the ones cert_bundle.h names. */
#define ACERT_ENTRY_STRONGSWAN "strongswan.conf"
#define ACERT_ENTRY_CONN       "conn.params"

/*
 * Reads and checks the bundle at path. passphrase is used as typed after
 * cert_bundle_passphrase_canon() (as is when it is not a generated one).
 * opts NULL: cert_bundle_open_opts_init(now). On success *out gets owned by
 * the caller and *conn holds the connection. Returns 0, or -1 with one line
 * in err.
 */
int acert_enroll_open(const char *path, const char *passphrase, int64_t now,
		      const struct cert_bundle_open_opts *opts, struct cert_bundle **out,
		      struct acert_conn *conn, char *err, size_t errlen);

/*
 * Installs every file of a checked bundle under o's paths (staged: all or
 * nothing before the final renames), secrets with mode 0600, and the role
 * file. Returns 0, or -1 with err.
 */
int acert_enroll_install(const struct cert_bundle *b, const struct acert_opts *o, char *err,
			 size_t errlen);

#endif
