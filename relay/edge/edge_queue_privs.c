/*
 * The queue process's own privilege drop. It runs as edge.user like the
 * other children, but it owns the VICI session and pins its sockets to the
 * tunnel, so it keeps exactly two things:
 *  - the group of charon's VICI socket as its only supplementary group
 *    (the socket is mode 0770, owned by charon's user and group);
 *  - CAP_NET_ADMIN, for the per-socket XFRM OUT policy on kernel-XFRM hosts
 *    (SO_BINDTODEVICE on a fresh socket needs nothing).
 * Every other capability and id is dropped, and root cannot be regained.
 */
#include "relay/edge/edge.h"

#include "common/log.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int keep_net_admin(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted |= CAP_TO_MASK(CAP_NET_ADMIN);
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective |= CAP_TO_MASK(CAP_NET_ADMIN);
	return (int)syscall(SYS_capset, &hdr, data);
}

int edge_queue_drop_privileges(const char *user, const char *vici_uri, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "unknown user %s", user);
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	const char *path = strncmp(vici_uri, "unix://", 7) == 0 ? vici_uri + 7 : vici_uri;
	struct stat st;
	gid_t groups[1];
	size_t ngroups = 0;
	if (stat(path, &st) != 0)
		log_warning(
			"event=vici-socket-missing path=%s error=\"%s\" msg=\"the queue process "
			"keeps no VICI group: start charon before airlock-edge\"",
			path, strerror(errno));
	else if (st.st_gid != gid)
		groups[ngroups++] = st.st_gid;
	if (setgroups(ngroups, groups) != 0 || setresgid(gid, gid, gid) != 0 ||
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setresuid(uid, uid, uid) != 0 ||
	    keep_net_admin() != 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot switch to user %s: %s", user, strerror(errno));
		return -1;
	}
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
		snprintf(err, errlen, "switching to user %s left other ids in place", user);
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "root could be regained after switching to user %s", user);
		return -1;
	}
	return 0;
}
