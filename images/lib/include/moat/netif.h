/* SPDX-License-Identifier: MIT */
/*
 * netif: a virtual network interface over a link (docs/networking.md). Ethernet frames travel on
 * two rings in pages the link's granter shares with its mapper, one event channel per ring, in
 * the style of Xen's netif (xen/include/public/io/netif.h and ring.h): the sender of frames posts
 * requests, the receiver answers each with a response, and each side tells the other when it
 * wants an event through the req_event/rsp_event indices.
 *
 * The link itself comes from the start info (public/hv.h, struct start_link): the hypervisor tells
 * each end its role, its peer, the grant refs and the MAC addresses; no privileged domain takes
 * part. The granter of a link shares NETIF_PAGES pages at refs first_ref + 0 ... + 32:
 *
 *   page 0      struct netif_ctrl: magic, version, the granter's two ports, both ends' states,
 *               and the two shared rings (struct netif_sring)
 *   pages 1-16  the buffers of ring 0 (frames from the granter to the mapper), two a page
 *   pages 17-32 the buffers of ring 1 (frames from the mapper to the granter)
 *
 * A request {id, len} says: buffer `id` of this ring holds a frame of `len` bytes. The receiver
 * copies the frame out and answers with a response {id, status} in the same order, which gives the
 * buffer back to the sender. The sender always uses buffer (request index mod NETIF_RING_SIZE).
 *
 * Against a hostile peer (it can corrupt only its own traffic):
 *  - our own indices (req_prod_pvt, req_cons, rsp_prod_pvt, rsp_cons) are private and only
 *    published; the peer's producer index is read once per look, and one that claims more than a
 *    ring's worth (or more responses than we made requests) marks the interface broken: every later
 *    call fails with NETIF_EPROTO and the owner tears the link down;
 *  - a request is copied out of the shared slot in one load before it is checked; a bad id or a
 *    length outside [NETIF_FRAME_MIN, NETIF_FRAME_MAX] gets a NETIF_RSP_ERROR response and the
 *    frame is dropped (counted); a frame is copied out of the shared buffer once, before anyone
 *    looks at it; every buffer access is inside the ring's own pages;
 *  - a response must name the buffer of the oldest outstanding request, else broken;
 *  - no call loops on a value the peer controls, and a full ring never blocks netif_send: it
 *    returns NETIF_EAGAIN, so a switch drops rather than waits for a peer that stops reading;
 *  - the magic, version, ports and state are read once at connect and checked.
 *
 * Waiting: like vchan, netif never takes upcalls. netif_arm() asks the peer for events and says
 * whether work arrived meanwhile; netif_wait() sleeps with SCHEDOP_poll on the ports of any number
 * of interfaces. Guests using netif leave upcalls masked (they do not call evtchn_init).
 */
#ifndef MOAT_GUEST_NETIF_H
#define MOAT_GUEST_NETIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <public/event_channel.h>
#include <public/grant_table.h>
#include <public/hv.h>

#define NETIF_MAGIC 0x4649544eu /* "NTIF" */
#define NETIF_VERSION 1
#define NETIF_RING_SIZE 32      /* requests a ring holds; a power of two */
#define NETIF_BUF_SIZE 2048
#define NETIF_BUFS_PER_PAGE (GUEST_PAGE_SIZE / NETIF_BUF_SIZE)
#define NETIF_BUF_PAGES (NETIF_RING_SIZE / NETIF_BUFS_PER_PAGE)
#define NETIF_PAGES (1 + 2 * NETIF_BUF_PAGES) /* 33, within LINK_REF_STRIDE */
#define NETIF_FRAME_MIN 14                    /* an Ethernet header */
#define NETIF_FRAME_MAX 1518                  /* 1500 bytes of payload, the header and one 802.1Q tag */

/* Rings: 0 carries frames from the granter to the mapper, 1 the other way. */
#define NETIF_RING_G2M 0
#define NETIF_RING_M2G 1

/* States an end publishes in the control page. */
#define NETIF_STATE_NONE 0
#define NETIF_STATE_READY 1     /* granter: the pages and ports are set up, waiting for the mapper */
#define NETIF_STATE_CONNECTED 2
#define NETIF_STATE_CLOSED 3

#define NETIF_RSP_OKAY 0
#define NETIF_RSP_ERROR (-1)    /* a bad id or length: the frame was dropped */

struct netif_req {
    uint16_t id;  /* buffer index, < NETIF_RING_SIZE */
    uint16_t len; /* frame bytes */
    uint32_t flags; /* none defined: 0 */
};

struct netif_rsp {
    uint16_t id;
    int16_t status; /* NETIF_RSP_* */
    uint32_t pad;
};

union netif_slot {
    struct netif_req req;
    struct netif_rsp rsp;
    uint64_t raw; /* a slot is read and written in one 8-byte access */
};

struct netif_sring {
    uint32_t req_prod, req_event; /* the sender's index; the receiver wants an event at req_event */
    uint32_t rsp_prod, rsp_event; /* the receiver's index; the sender wants an event at rsp_event */
    uint8_t pad[48];
    union netif_slot ring[NETIF_RING_SIZE];
};

struct netif_ctrl {
    uint32_t magic, version;
    uint32_t port[2];          /* the granter's port for ring 0 and ring 1 (unbound for the mapper) */
    uint8_t granter_state, mapper_state;
    uint8_t pad[46];
    struct netif_sring ring[2];
};

/* Errors (negative returns). */
#define NETIF_EAGAIN (-1)   /* nothing to do now: the ring is full, or the peer has not connected */
#define NETIF_EPROTO (-2)   /* the peer broke the protocol; the interface is broken for good */
#define NETIF_ECLOSED (-3)  /* the peer closed the link or died */
#define NETIF_EGRANT (-4)   /* a grant operation failed (for a forbidden link: the MAC refused it) */
#define NETIF_EEVTCHN (-5)  /* an event-channel operation failed (ditto) */
#define NETIF_ETIMEDOUT (-6)
#define NETIF_EINVAL (-7)   /* no such link, a frame of a bad size, or out of memory */
#define NETIF_ENOTCONN (-8) /* not connected (yet, or any more) */

struct netif_ring {
    struct netif_sring *s;
    uint8_t *page[NETIF_BUF_PAGES];
    evtchn_port_t port;
    bool sender;                    /* we post requests on it (else we answer them) */
    uint32_t req_prod_pvt, rsp_cons; /* sender */
    uint32_t req_cons, rsp_prod_pvt; /* receiver */
};

struct netif_stats {
    uint64_t tx_frames, tx_bytes, tx_full, tx_errors;  /* tx_errors: error responses from the peer */
    uint64_t rx_frames, rx_bytes, rx_errors;            /* rx_errors: bad requests we refused */
};

struct netif {
    const struct start_link *link; /* in the start info: vlans there is kept current */
    unsigned index;                /* which of start_info->links */
    uint8_t role;
    domid_t peer;
    uint32_t first_ref;
    uint8_t mac[LINK_MAC_LEN], peer_mac[LINK_MAC_LEN];
    struct netif_ctrl *ctrl;
    struct netif_ring tx, rx;
    evtchn_port_t ports[2]; /* ours, by ring */
    bool started, connected, broken, closed;
    const char *why;        /* why it broke or closed */
    bool closed_sent;       /* our CLOSED state is published */
    /* granter */
    uint8_t *pages;
    uint64_t ended;         /* bit i: the grant of page i has been ended */
    unsigned grants_ended;
    bool draining;          /* the peer went while we were connected: frames up to rx_end remain */
    uint32_t rx_end;        /* the peer's request producer when we saw it go */
    /* mapper */
    uint64_t va[NETIF_PAGES];
    grant_handle_t handle[NETIF_PAGES];
    uint64_t mapped;        /* bit i: page i is mapped at va[i] */
    struct netif_stats stats;
};

/* The number of links in the start info, and one of them (NULL when out of range). */
unsigned netif_links(void);
const struct start_link *netif_link(unsigned index);

/*
 * Granter: sets up the pages, the two ports and the grants, and publishes them (non-blocking).
 * Mapper: records the link. Both then call netif_connect (or poll netif_try_connect).
 * Returns 0 or NETIF_E*; a forbidden link gives NETIF_EEVTCHN (the MAC refused the channel).
 */
int netif_start(struct netif *nif, unsigned link);
/* One non-blocking step of connecting: 0 when connected, NETIF_EAGAIN not yet, or an error. */
int netif_try_connect(struct netif *nif);
/* netif_try_connect until connected or deadline_ns (system time) passes: 0 or an error. */
int netif_connect(struct netif *nif, uint64_t deadline_ns);
/* netif_start + netif_connect. */
int netif_open(struct netif *nif, unsigned link, uint64_t deadline_ns);

/* Sends one frame (len in [NETIF_FRAME_MIN, NETIF_FRAME_MAX]): 0, NETIF_EAGAIN when the ring is full. */
int netif_send(struct netif *nif, const void *frame, size_t len);
/*
 * Receives one frame into buf (size >= NETIF_FRAME_MAX): its length, 0 when none, or an error. The
 * granter still takes the frames a peer sent before it closed or died (they are in its own pages):
 * NETIF_ECLOSED comes once the last of them is taken, so nothing sent before a close is lost.
 */
int netif_recv(struct netif *nif, void *buf, size_t size);
/* Whether a frame is waiting, and whether the tx ring has room (responses are reaped first). */
bool netif_rx_ready(struct netif *nif);
bool netif_tx_room(struct netif *nif);

/*
 * Before sleeping: clears our ports' pending bits, asks the peer for an event on its next request
 * (and, if want_tx_room, on its next response), and returns true when work came in meanwhile (then
 * do not sleep). Also true when the peer has gone (netif_check_peer tells).
 */
bool netif_arm(struct netif *nif, bool want_tx_room);
/* Sleeps until a port of any of the n interfaces is pending, or deadline_ns (0: none). */
void netif_wait(struct netif *const *nifs, unsigned n, uint64_t deadline_ns);
/* Whether the peer is still there: false (and nif->why set) once it closed, died or broke the protocol. */
bool netif_check_peer(struct netif *nif);

/*
 * Tears our end down: our state CLOSED, an event, ports closed; the mapper unmaps every page, the
 * granter ends its grants, retrying until deadline_ns (0: once) while the peer still maps a page
 * (the peer unmaps when it sees us close; a page it keeps stays granted, and unused). Returns the
 * number of grants (granter) or mappings (mapper) still held: 0 when all is given back. The
 * granter may call it again later to end the rest.
 */
unsigned netif_close(struct netif *nif, uint64_t deadline_ns);

/* "02:6d:..": a MAC address in a static buffer of the caller's. */
char *netif_format_mac(char *buf, const uint8_t *mac);

#endif
