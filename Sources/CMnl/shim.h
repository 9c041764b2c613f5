/* glibc comes in as Swift's own module, so the kernel and library headers below find its
 * declarations already there: included again here, they would make a second copy that this
 * module owns, and Swift files that do not import it could not see SOCK_STREAM or IPPROTO_IPV6. */
#pragma clang module import SwiftGlibc
#include <netinet/in.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
