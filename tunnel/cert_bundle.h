/*
 * Enrollment bundle: what `airlock-cert bundle` on the hub hands to
 * `airlock-cert enroll` on an edge. A set of named files (edge key and
 * certificate, CA certificate, hub addresses, attestation key pair, swanctl
 * and airlock.conf fragments) plus metadata, serialised, then sealed with a
 * one-time passphrase. This module only builds, seals, opens and checks
 * bundles in memory; writing the files is the tool's job. cert_bundle.c holds
 * the entries, the plain form and the clock check; cert_bundle_seal.c the
 * sealing, opening and passphrase.
 *
 * Plain form (the sealed payload; all integers big-endian, no padding):
 *
 *	"ALBP"			4 octets
 *	format version		u8, CERT_BUNDLE_VERSION
 *	created, expires	i64 each, seconds since the epoch
 *	edge name		u8 length + octets
 *	hub identity		u8 length + octets
 *	entry count		u8, at most CERT_BUNDLE_ENTRIES_MAX
 *	each entry		u8 name length + name, u8 flags, u32 data length + data
 *
 * Nothing may follow the last entry. Entry names are unique. Serialising
 * keeps the order of the entries, so parsing then serialising gives back the
 * same octets.
 *
 * Sealed form: a CERT_BUNDLE_HEADER_LEN-octet header, then the plain form
 * encrypted with XChaCha20-Poly1305 (IETF) under a key that Argon2id
 * derives from the passphrase. The whole header is the associated data, so
 * every header octet is authenticated.
 *
 *	"ALBUNDLE"		8 octets
 *	format version		u8, CERT_BUNDLE_VERSION
 *	kdf			u8, 1 = Argon2id v1.3
 *	opslimit		u32
 *	memlimit		u64, octets
 *	salt			16 octets, random
 *	nonce			24 octets, random
 *
 * Untrusted input: the opener refuses key-derivation parameters outside the
 * caller's limits before it derives anything (a tampered memlimit must not
 * cost memory), and wrong passphrase and tampering give one message.
 */
#ifndef AIRLOCK_CERT_BUNDLE_H
#define AIRLOCK_CERT_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define CERT_BUNDLE_VERSION	1
#define CERT_BUNDLE_HEADER_LEN	62
#define CERT_BUNDLE_TAG_LEN	16
#define CERT_BUNDLE_ENTRIES_MAX 32
#define CERT_BUNDLE_NAME_MAX	64	     /* octets of an entry name */
#define CERT_BUNDLE_ENTRY_MAX	(256 * 1024) /* octets of one entry's data */
#define CERT_BUNDLE_PLAIN_MAX	(1024 * 1024)
#define CERT_BUNDLE_SEALED_MAX                                                                     \
	(CERT_BUNDLE_HEADER_LEN + CERT_BUNDLE_PLAIN_MAX + CERT_BUNDLE_TAG_LEN)
#define CERT_BUNDLE_EDGE_MAX	 253 /* octets of the edge name */
#define CERT_BUNDLE_HUB_ID_MAX	 255 /* octets of the hub identity */
#define CERT_BUNDLE_PASS_MAX	 1024
#define CERT_BUNDLE_LIFETIME	 (24 * 3600) /* default: created + this = expires */
#define CERT_BUNDLE_LIFETIME_MAX (30 * 24 * 3600)
#define CERT_BUNDLE_SKEW	 300 /* default tolerance for a created time ahead of us */

/* One-time passphrase: 6 groups of 5 base32 characters, '-' between them. */
#define CERT_BUNDLE_PASSPHRASE_LEN 35

/* Entries an edge needs; cert_bundle_missing() checks for them. */
#define CERT_BUNDLE_EDGE_KEY	"edge.key.pem"
#define CERT_BUNDLE_EDGE_CERT	"edge.cert.pem"
#define CERT_BUNDLE_CA_CERT	"ca.cert.pem"
#define CERT_BUNDLE_HUB_ADDRS	"hub.addrs" /* text, one address per line */
#define CERT_BUNDLE_ATTEST_KEY	"attest.key"
#define CERT_BUNDLE_ATTEST_PUB	"attest.pub"
#define CERT_BUNDLE_SWANCTL	"swanctl.conf"
#define CERT_BUNDLE_AIRLOCK_CNF "airlock.conf"

/* Entry flag: the data is secret; install it with mode 0600. */
#define CERT_BUNDLE_SECRET 0x01u

enum cert_bundle_status {
	CERT_BUNDLE_OK = 0,
	CERT_BUNDLE_NOT_BUNDLE,	 /* too short, wrong magic, too large */
	CERT_BUNDLE_UNSUPPORTED, /* format version or kdf we do not know */
	CERT_BUNDLE_BAD_PARAMS,	 /* kdf parameters outside the caller's limits */
	CERT_BUNDLE_UNREADABLE,	 /* wrong passphrase or damaged file: one case */
	CERT_BUNDLE_MALFORMED,	 /* authentic but not a valid plain form */
	CERT_BUNDLE_EXPIRED,
	CERT_BUNDLE_FUTURE, /* created too far ahead of our clock */
	CERT_BUNDLE_NO_MEMORY,
};

struct cert_bundle_meta {
	char edge_name[CERT_BUNDLE_EDGE_MAX + 1]; /* [A-Za-z0-9._-], starts alphanumeric */
	char hub_id[CERT_BUNDLE_HUB_ID_MAX + 1];  /* printable ASCII, no leading space */
	int64_t created, expires;		  /* expires > created, within LIFETIME_MAX */
};

struct cert_bundle_entry {
	char name[CERT_BUNDLE_NAME_MAX + 1];
	unsigned flags; /* CERT_BUNDLE_SECRET or 0 */
	unsigned char *data;
	size_t len;
};

/* Argon2id cost. */
struct cert_bundle_kdf {
	uint32_t opslimit;
	uint64_t memlimit; /* octets */
};

/* What the opener accepts. Fill with cert_bundle_open_opts_init(). */
struct cert_bundle_open_opts {
	int64_t now;
	int64_t max_skew;	    /* seconds a created time may be ahead of now */
	struct cert_bundle_kdf min; /* weaker parameters are refused (a downgrade) */
	struct cert_bundle_kdf max; /* costlier ones are refused before deriving */
};

struct cert_bundle;

/* libsodium's MODERATE (the default for sealing) and INTERACTIVE costs. */
struct cert_bundle_kdf cert_bundle_kdf_moderate(void);
struct cert_bundle_kdf cert_bundle_kdf_interactive(void);

/*
 * Defaults: now as given, max_skew CERT_BUNDLE_SKEW, min INTERACTIVE, max
 * opslimit 16 and memlimit 1 GiB. Tests lower min to seal cheaply.
 */
void cert_bundle_open_opts_init(struct cert_bundle_open_opts *o, int64_t now);

/*
 * A new bundle without entries. meta is copied after checking: edge name and
 * hub identity charset and length, expires > created, lifetime at most
 * CERT_BUNDLE_LIFETIME_MAX. Returns the bundle (gets owned by the caller,
 * cert_bundle_free()), or NULL with a reason in err.
 */
struct cert_bundle *cert_bundle_new(const struct cert_bundle_meta *meta, char *err, size_t errlen);

/* Wipes every entry's data and frees. NULL is accepted. */
void cert_bundle_free(struct cert_bundle *b);

/* 1 if name is a valid entry name: [A-Za-z0-9._-], 1..64 octets, first
 * character alphanumeric or '_', no "..". Such a name is a plain file name. */
int cert_bundle_name_valid(const char *name);

/*
 * Adds a copy of data[0..len) under name. Returns 0, or -1 with a reason in
 * err: invalid name, name already present, flags other than
 * CERT_BUNDLE_SECRET, len over CERT_BUNDLE_ENTRY_MAX, CERT_BUNDLE_ENTRIES_MAX
 * reached, plain form over CERT_BUNDLE_PLAIN_MAX, out of memory.
 */
int cert_bundle_add(struct cert_bundle *b, const char *name, unsigned flags, const void *data,
		    size_t len, char *err, size_t errlen);

/* Metadata of b (internal data). */
const struct cert_bundle_meta *cert_bundle_meta(const struct cert_bundle *b);

size_t cert_bundle_count(const struct cert_bundle *b);

/* The idx-th entry in insertion order, or NULL past the end (internal data). */
const struct cert_bundle_entry *cert_bundle_entry_at(const struct cert_bundle *b, size_t idx);

/* The entry called name, or NULL (internal data). */
const struct cert_bundle_entry *cert_bundle_find(const struct cert_bundle *b, const char *name);

/* The first entry an edge needs that b lacks (a static string), or NULL. */
const char *cert_bundle_missing(const struct cert_bundle *b);

/*
 * The plain form of b. On success *out (gets owned by the caller; holds
 * secrets: sodium_memzero() *outlen octets before free()) and *outlen are
 * set. Returns 0, or -1 when out of memory.
 */
int cert_bundle_serialize(const struct cert_bundle *b, unsigned char **out, size_t *outlen);

/*
 * Parses a plain form (untrusted: every length is checked against the caps
 * and the remaining input before allocation; trailing octets are refused).
 * Does not look at the clock. On CERT_BUNDLE_OK *out gets owned by the
 * caller. Otherwise CERT_BUNDLE_MALFORMED or CERT_BUNDLE_NO_MEMORY, with a
 * reason in err.
 */
enum cert_bundle_status cert_bundle_parse_plain(const unsigned char *buf, size_t len,
						struct cert_bundle **out, char *err, size_t errlen);

/*
 * Checks meta against the clock: CERT_BUNDLE_EXPIRED ("bundle expired at
 * 2026-01-02T00:00:00Z") once now >= expires, CERT_BUNDLE_FUTURE when
 * created > now + max_skew, else CERT_BUNDLE_OK.
 */
enum cert_bundle_status cert_bundle_check_time(const struct cert_bundle_meta *meta, int64_t now,
					       int64_t max_skew, char *err, size_t errlen);

/*
 * Seals b with passphrase (NUL-terminated, 1..CERT_BUNDLE_PASS_MAX octets)
 * at cost kdf (NULL: moderate); salt and nonce are random. On success *out
 * (gets owned by the caller, free()) and *outlen hold the sealed form.
 * Returns 0, or -1 with a reason in err (bad passphrase or kdf, out of
 * memory).
 */
int cert_bundle_seal(const struct cert_bundle *b, const char *passphrase,
		     const struct cert_bundle_kdf *kdf, unsigned char **out, size_t *outlen,
		     char *err, size_t errlen);

/*
 * Opens a sealed bundle (untrusted input): checks magic, version and kdf
 * parameters against o before deriving the key, decrypts, parses, and
 * checks the time with cert_bundle_check_time(). On CERT_BUNDLE_OK *out gets
 * owned by the caller. Otherwise err holds one line for the user; a wrong
 * passphrase and any tampering both give CERT_BUNDLE_UNREADABLE with
 * "cannot open bundle: wrong passphrase or damaged file".
 */
enum cert_bundle_status cert_bundle_open(const unsigned char *sealed, size_t len,
					 const char *passphrase,
					 const struct cert_bundle_open_opts *o,
					 struct cert_bundle **out, char *err, size_t errlen);

/*
 * A new one-time passphrase from randombytes: 6 groups of 5 characters of
 * Crockford's base32 in lower case ("0-9a-z" without i, l, o, u), joined by
 * '-' (150 bits). Gets owned by the caller: cert_bundle_passphrase_free().
 * NULL when out of memory.
 */
char *cert_bundle_passphrase_new(void);

/* Wipes and frees a passphrase. NULL is accepted. */
void cert_bundle_passphrase_free(char *pass);

/*
 * Canonical form of a passphrase as a person typed it: case ignored, groups
 * separated by '-', ' ' or nothing, leading and trailing blanks ignored,
 * 'i'/'l' read as '1' and 'o' as '0'. Writes CERT_BUNDLE_PASSPHRASE_LEN + 1
 * octets into out. Returns 0, or -1 (out wiped) if in does not have the
 * shape of a generated passphrase.
 */
int cert_bundle_passphrase_canon(const char *in, char out[CERT_BUNDLE_PASSPHRASE_LEN + 1]);

/* Short name of a status, e.g. "expired", for logs and tests. */
const char *cert_bundle_status_name(enum cert_bundle_status s);

#endif
