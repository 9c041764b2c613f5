/* glibc comes in as Swift's own module, so the kernel and library headers below find its
 * declarations already there: included again here, they would make a second copy that this
 * module owns, and Swift files that do not import it could not see SOCK_STREAM or IPPROTO_IPV6. */
#pragma clang module import SwiftGlibc
/* The legacy x_tables interface (getsockopt on a raw socket), from the kernel's own headers:
 * no library to link. <netinet/in.h> first, as in CNftnl's shim: the kernel headers pull in
 * <linux/in.h>, whose definitions otherwise clash with glibc's. */
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
