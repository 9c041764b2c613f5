/* The legacy x_tables interface (getsockopt on a raw socket), from the kernel's own headers:
 * no library to link. <netinet/in.h> first, as in CNftnl's shim: the kernel headers pull in
 * <linux/in.h>, whose definitions otherwise clash with glibc's. */
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
