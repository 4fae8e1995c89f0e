/* SPDX-License-Identifier: MIT */
/*
 * vchan: a bidirectional byte stream between two domains over ONE granted page and ONE event
 * channel, with Xen libvchan's shared layout (xen/include/public/io/libxenvchan.h) restricted to
 * one page. docs/vchan.md has the protocol and the rendezvous.
 *
 * The server grants a page of its own RAM to the client and allocates an unbound event channel
 * for it; the client maps the page and binds to that port. The page holds two rings:
 *   left:  the client writes, the server reads     (left_order)
 *   right: the server writes, the client reads     (right_order)
 * An order of 10 puts that ring at offset 1024 of the page (1 KiB), 11 at offset 2048 (2 KiB); a
 * one-page vchan has one of each. Orders of 12 and up (extra grants) are not supported.
 *
 * Rendezvous without xenstore: the client is told the server's domid and the grant ref (by the
 * scenario's command line; VCHAN_DEFAULT_REF by convention) and retries mapping until the server
 * has published the page; the server's port is in the page (srv_port, where Xen's grant list
 * starts: a one-page vchan has none).
 *
 * Hardening against a hostile peer: each side keeps its own index (the reader's cons, the writer's
 * prod) privately and only publishes it, so the peer cannot move it; the peer's index is read once
 * per operation; a peer index that claims more than a ring's worth of data or space marks the
 * vchan broken (VCHAN_EPROTO from then on); the orders and the port are read once at connect and
 * checked. No operation loops on a value the peer controls.
 */
#ifndef MOAT_GUEST_VCHAN_H
#define MOAT_GUEST_VCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <public/event_channel.h>
#include <public/grant_table.h>

#define VCHAN_DEFAULT_REF 8 /* the first unreserved ref: what a server grants unless told otherwise */

/* Notification bits: a side ORs them into the byte its peer checks after it acts. */
#define VCHAN_NOTIFY_WRITE 0x1 /* tell me when you have written (I want data) */
#define VCHAN_NOTIFY_READ 0x2  /* tell me when you have read (I want space) */

/* live bytes */
#define VCHAN_LIVE_CLOSED 0
#define VCHAN_LIVE_CONNECTED 1
#define VCHAN_LIVE_WAITING 2 /* cli_live until the client connects */

struct vchan_ring_shared {
    uint32_t cons, prod; /* free-running; masked with size-1 */
};

struct vchan_interface {
    struct vchan_ring_shared left, right;
    uint16_t left_order, right_order;
    uint8_t cli_live, srv_live;
    uint8_t cli_notify; /* set by the server: what the client must signal */
    uint8_t srv_notify; /* set by the client: what the server must signal */
    uint32_t srv_port;  /* moat: the server's port (Xen: grants[], empty for one page) */
};

/* Errors (negative returns). */
#define VCHAN_EPROTO (-1)   /* the peer broke the protocol (bad index, order, live state) */
#define VCHAN_ECLOSED (-2)  /* the peer closed or died */
#define VCHAN_EGRANT (-3)   /* a grant operation failed */
#define VCHAN_EEVTCHN (-4)  /* an event-channel operation failed */
#define VCHAN_ETIMEDOUT (-5)
#define VCHAN_EINVAL (-6)

struct vchan {
    struct vchan_interface *shared;
    uint8_t *rd_ring, *wr_ring;
    uint32_t rd_size, wr_size;
    uint32_t rd_cons, wr_prod; /* ours, kept privately: the shared copies are only published */
    evtchn_port_t port;
    domid_t peer;
    bool server, broken;
    grant_ref_t ref;        /* server: the page's grant */
    grant_handle_t handle;  /* client: the mapping */
    uint64_t map_va;
};

/*
 * Server: publishes `page` (page-aligned, in our RAM; the grant table must be set up) for client
 * at ref (VCHAN_DEFAULT_REF usually; it must be free), reading with a ring of read_order and
 * writing with write_order (one 10, the other 11). Returns 0 or a VCHAN_E* error.
 */
int vchan_server_init(struct vchan *v, void *page, domid_t client, grant_ref_t ref, unsigned read_order,
                      unsigned write_order);
/* Server: waits until the client has connected (0), or timeout_ns of system time passed. */
int vchan_server_wait(struct vchan *v, uint64_t timeout_ns);
/*
 * Client: maps server's ref at a free page of the grant window (retrying until the server has
 * published it or timeout_ns passed), checks the orders and the live state, binds the port and
 * tells the server. Returns 0 or a VCHAN_E* error (VCHAN_EPROTO for a bad page: nothing stays
 * mapped or bound then).
 */
int vchan_client_init(struct vchan *v, domid_t server, grant_ref_t ref, uint64_t timeout_ns);

/* Non-blocking: bytes moved (0 when none fit or none were there), or a VCHAN_E* error. */
int vchan_write(struct vchan *v, const void *buf, size_t len);
int vchan_read(struct vchan *v, void *buf, size_t len);
/* Blocking: all of buf, or an error (VCHAN_ECLOSED when the peer went away first). */
int vchan_send(struct vchan *v, const void *buf, size_t len);
int vchan_recv(struct vchan *v, void *buf, size_t len);

/* Bytes readable now / space writable now, or a VCHAN_E* error for a hostile index. */
int vchan_data_ready(struct vchan *v);
int vchan_buffer_space(struct vchan *v);
/* Whether the peer says it is connected (its live byte). */
bool vchan_peer_live(struct vchan *v);

/*
 * Closes our end: live byte 0, a last event, the port closed. The client unmaps the page; the
 * server ends its grant, waiting (up to timeout_ns) for the client to unmap. Returns 0, or
 * VCHAN_ETIMEDOUT when the server's grant could not be ended (the page must not be reused then).
 */
int vchan_close(struct vchan *v, uint64_t timeout_ns);

#endif
