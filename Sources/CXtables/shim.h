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
/* The match and target structures the kernel hands back in each entry, decoded by
 * `XtablesExtensions` for the legacy tables and iptables-nft's compat expressions alike. */
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_owner.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_TPROXY.h>
#include <linux/netfilter/xt_CT.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_NFLOG.h>
#include <linux/netfilter/nf_nat.h>
