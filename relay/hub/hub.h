/*
 * airlock-hub: the tunnel-only acceptor in front of the internal MTA.
 *
 * Processes (relay/proc.h):
 *  - parent (root): configuration, the kernel-gated listeners, the VICI
 *    session (sa_monitor), accept() and the gate (policy/gate.h) for every
 *    connection, the refusals (421 / 554 written by the parent itself), the
 *    trusted attestation keys (reloaded on SIGHUP), the control socket and
 *    every counter. Holds no mail.
 *  - smtp (hub.user): SMTP sessions on sockets the parent passed it after
 *    they passed the gate (HUB_MSG_CONN with SCM_RIGHTS), each transaction
 *    proxied live to the internal MTA (MAIL and RCPT replies relayed as they
 *    come), the content held in a memfd and its attestation verified before
 *    it goes on (hub_proxy.h). It never accepts a connection itself.
 */
#ifndef AIRLOCK_HUB_H
#define AIRLOCK_HUB_H

#include <sys/socket.h>

#include "common/config.h"

/* What the parent prepared; the smtp process gets a copy through fork(). */
struct hub_ctx {
	struct airlock_config cfg;
	char hostname[256];
	struct sockaddr_storage mta; /* hub.internal_mta */
	socklen_t mta_len;
};

/* The smtp process (proc_spec.main): arg is the struct hub_ctx. */
int hub_smtp_main(void *arg, int parent_fd);

#endif
