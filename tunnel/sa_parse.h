/*
 * Internal to the SA table (sa_table.c): reading charon's IKE_SA and
 * CHILD_SA sections of VICI messages into struct sa_ike and struct sa_child.
 * Not an API for other modules; they use sa_table.h.
 *
 * The parsers fail closed: a field that is missing when required, of the
 * wrong form, longer than SA_TABLE_MAX_STR or holding control characters,
 * and a list of more than SA_TABLE_MAX_TS traffic selectors refuse the whole
 * section, and nothing is guessed. Message shapes are described in
 * sa_table.h.
 */
#ifndef AIRLOCK_SA_PARSE_H
#define AIRLOCK_SA_PARSE_H

#include <stdint.h>

#include "tunnel/sa_table.h"
#include "tunnel/vici_msg.h"

/* Returned by the parsers, besides 0. */
#define SA_PARSE_MALFORMED -1 /* the section was refused; ctx->field says why */
#define SA_PARSE_NOMEM	   -2 /* out of memory */

/* One parse: what the caller gives, and why a section was refused. */
struct sa_parse_ctx {
	const char *field; /* set on SA_PARSE_MALFORMED: the field at fault, for the log */
	uint64_t now;	   /* stamped as reported_at on what is parsed */
};

/* Sets ctx->field to field (a static string) and returns SA_PARSE_MALFORMED. */
int sa_parse_fail(struct sa_parse_ctx *ctx, const char *field);

/*
 * Parses the IKE_SA fields of sec (internal data of the caller), an IKE
 * section named name, into a new struct sa_ike without children, stored in
 * *out (gets owned by the caller; free it with sa_parse_ike_free). Returns
 * 0, SA_PARSE_MALFORMED or SA_PARSE_NOMEM; on failure *out is NULL.
 */
int sa_parse_ike(struct sa_parse_ctx *ctx, const char *name, const struct vici_node *sec,
		 struct sa_ike **out);

/* Frees ike, its fields and its CHILD_SAs. NULL is allowed. */
void sa_parse_ike_free(struct sa_ike *ike);

/*
 * Parses the CHILD section sec (internal data of the caller) into *c, whose
 * fields then get owned by the caller (free them with sa_parse_child_clear).
 * Returns 0, SA_PARSE_MALFORMED or SA_PARSE_NOMEM; on failure *c holds
 * nothing to free.
 */
int sa_parse_child(struct sa_parse_ctx *ctx, const struct vici_node *sec, struct sa_child *c);

/* Frees the fields of *c (not c itself) and zeroes it. */
void sa_parse_child_clear(struct sa_child *c);

/*
 * The one IKE section of an event or list-sa message root (internal data of
 * root); other root keys, such as "up", are values. NULL if root is not a
 * section or holds no section or more than one.
 */
const struct vici_node *sa_parse_ike_section(const struct vici_node *root);

/*
 * The "uniqueid" of the section sec, into *id. Returns 0, or -1 (and leaves
 * *id alone) if sec is NULL or not a section, or the value is missing or not
 * a 32-bit number.
 */
int sa_parse_uniqueid(const struct vici_node *sec, uint32_t *id);

#endif
