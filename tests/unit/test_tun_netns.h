/*
 * A private network namespace with its own TUN device, for tests of what
 * happens to connections pinned to charon's libipsec device when it goes
 * away. Root only: the test runs in a child process (tun_netns_run) that
 * enters a new namespace, so the test binary's own namespace is untouched.
 * Include after <cmocka.h>.
 */
#ifndef TEST_TUN_NETNS_H
#define TEST_TUN_NETNS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TUN_NETNS_DEV  "altest0"
#define TUN_NETNS_ADDR "10.9.9.1" /* on TUN_NETNS_DEV, a /24 */
#define TUN_NETNS_SKIP 77	  /* a child's exit status: no namespace to be had */

/* In a child: returns code (its exit status) when cond is false, naming the step. */
#define CHILD_CHECK(cond, code, what)                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s: %s\n", __func__, what);                               \
			return code;                                                               \
		}                                                                                  \
	} while (0)

/* Sets IFF_UP on a device, and an IPv4 address with a /24 first when addr is given. */
static inline int tun_netns_dev_up(const char *name, const char *addr)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM, 0), rc = -1;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (addr) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
		in->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &in->sin_addr);
		if (ioctl(s, SIOCSIFADDR, &ifr) != 0)
			goto out;
		inet_pton(AF_INET, "255.255.255.0", &in->sin_addr);
		if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0)
			goto out;
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	rc = ioctl(s, SIOCSIFFLAGS, &ifr);
out:
	close(s);
	return rc;
}

/* A TUN device that lives as long as the returned fd, like charon's libipsec device; or -1. */
static inline int tun_netns_open(const char *name, const char *addr)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0 || tun_netns_dev_up(name, addr) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * In the child: a new network namespace with lo up and TUN_NETNS_DEV
 * carrying TUN_NETNS_ADDR. Returns the TUN fd (closing it deletes the
 * device), or minus an exit status for the child.
 */
static inline int tun_netns_enter(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		return -TUN_NETNS_SKIP;
	if (tun_netns_dev_up("lo", NULL) != 0) {
		fprintf(stderr, "tun_netns_enter: lo up: %m\n");
		return -2;
	}
	int fd = tun_netns_open(TUN_NETNS_DEV, TUN_NETNS_ADDR);
	if (fd < 0) {
		fprintf(stderr, "tun_netns_enter: the TUN device: %m\n");
		return -3;
	}
	return fd;
}

/* Runs child() in a child process; skips unless root, fails unless it returns 0. */
static inline void tun_netns_run(int (*child)(void))
{
	if (geteuid() != 0)
		skip();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child());
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == TUN_NETNS_SKIP)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

#endif
