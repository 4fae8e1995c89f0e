/* SPDX-License-Identifier: MIT */
/*
 * The little protocol between gnt_peer (a granting domain that does what it is told) and the
 * grant test guests. gnt_peer grants, to the domain named `peer=<domid>` on its command line:
 *   ref 8 (GNT_CTL_REF)       this control page, writable
 *   refs GNT_DATA_REF..+n-1   n data pages (`data=n`, default 16), writable; page i starts with
 *                             the u32 GNT_PATTERN(i) repeated
 *   GNT_RO_REF(n)             one more page, read-only, filled with GNT_PATTERN_RO
 *   GNT_FOREIGN_REF(n)        a page granted to another domain id (GNT_OTHER_DOMID)
 *   GNT_INVALID_REF(n)        a ref in range that was never published
 * and an unbound event channel for the peer (the port is in the control page). The tester maps
 * the control page (retrying until it is published), binds the port, and issues commands:
 * fields, then seq+1, then an event; gnt_peer answers with result, ack = seq and an event.
 */
#ifndef GNT_RPC_H
#define GNT_RPC_H

#include <stdint.h>

#define GNT_RPC_MAGIC 0x67727063u /* "grpc" */
#define GNT_CTL_REF 8u
#define GNT_DATA_REF 9u
#define GNT_RO_REF(n) (GNT_DATA_REF + (n))
#define GNT_FOREIGN_REF(n) (GNT_DATA_REF + (n) + 1)
#define GNT_INVALID_REF(n) (GNT_DATA_REF + (n) + 2)
#define GNT_OTHER_DOMID 60u
#define GNT_PATTERN(i) (0x5a000000u | (uint32_t)(i))
#define GNT_PATTERN_RO 0xa5a5a5a5u

enum gnt_cmd {
    GNT_CMD_FLAGS = 1,   /* result = flags of ref */
    GNT_CMD_READ,        /* result = u32 at offset arg of ref's page */
    GNT_CMD_WRITE,       /* u32 at offset arg of ref's page = arg2 */
    GNT_CMD_END,         /* result = 1 if the grant of ref could be ended (the ref stays ours) */
    GNT_CMD_GRANT,       /* publish ref again for domid arg, read-only if arg2 */
    GNT_CMD_REWRITE,     /* rewrite ref's live entry in place: frame = data page arg, flags = arg2 */
    GNT_CMD_EXIT,        /* answer, then exit (poweroff) at once, whatever is mapped */
    GNT_CMD_COPY_OWN,    /* result = grant status of copying 4 bytes out of our own ref (granted to the
                          * tester, not to us) through GNTTABOP_copy: the pin rules hold for us too */
};

struct gnt_rpc {
    uint32_t magic;
    uint32_t port;      /* gnt_peer's unbound port for the tester */
    uint32_t nr_data;
    uint32_t seq, ack;  /* the tester bumps seq; gnt_peer sets ack = seq when done */
    uint32_t cmd, ref, arg, arg2;
    int32_t result;
};

#endif
