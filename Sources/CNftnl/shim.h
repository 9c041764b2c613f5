/* glibc comes in as Swift's own module, so the kernel and library headers below find its
 * declarations already there: included again here, they would make a second copy that this
 * module owns, and Swift files that do not import it could not see SOCK_STREAM or IPPROTO_IPV6. */
#pragma clang module import SwiftGlibc
/* <netinet/in.h> must come before the kernel headers: <linux/netfilter.h> pulls in <linux/in.h>,
 * whose definitions otherwise clash with glibc's in the Swift module. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <libnftnl/common.h>
#include <libnftnl/batch.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/gen.h>
#include <libnftnl/udata.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_nat.h>
