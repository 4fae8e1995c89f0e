// SPDX-License-Identifier: MIT
// A hostile switch member (docs/networking.md): it connects like any member, then attacks the switch
// through the rings it shares with it, phase by phase, as `do=` lists them:
//   flood=<n>   n frames with random source and unknown destination addresses (prefix 02:<prefix>,
//               prefix=0xaa by default: customer A's in the tests) and ethertype 0x88b5, as fast as the
//               ring takes them
//   hop         802.1Q-tagged and double-tagged frames for VLANs it is not on (VLAN hopping)
//   badreq      requests with an oversized length, a runt length and a buffer id out of range, then
//               a good one: the switch must answer the three with errors and keep going
//   scribble    overwrites the switch's own indices and event thresholds on the ring towards us
//               (the switch never reads them back)
//   stall=<ms>  takes nothing off the ring towards us for that long (the switch must drop, not wait)
//   late=<n>    (the granter of a direct link, not a switch member) takes nothing until the peer has
//               closed, then must still receive the n frames it sent before closing, then
//               NETIF_ECLOSED: frames sent just before a close are not lost
// and at most one last phase, after which the switch must take the port down:
//   overrun     a request producer index 1000 past the ring
//   badrsp      more responses than the switch made requests
// It ends once the switch has let the port go (or says so if it never did) and unmaps everything.
#include <moat/evtchn.h>
#include <moat/net.h>
#include <moat/test.h>

#define WAIT_NS (60 * NS_PER_SEC)

static struct netif nif;
static uint8_t frame[NETIF_FRAME_MAX];
static uint64_t rng;
static uint8_t prefix = 0xaa;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void drain(void)
{
    while (netif_recv(&nif, frame, sizeof(frame)) > 0)
        ;
}

/* Sends a frame, waiting (briefly) for room; returns whether it went. */
static bool send_frame(const uint8_t *f, size_t len)
{
    uint64_t deadline = now_ns() + 5 * NS_PER_SEC;
    for (;;) {
        int rc = netif_send(&nif, f, len);
        if (rc == 0)
            return true;
        if (rc != NETIF_EAGAIN || now_ns() >= deadline)
            return false;
        sched_yield();
    }
}

static void flood(unsigned n)
{
    unsigned sent = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t r = rnd();
        uint8_t *f = frame;
        f[0] = 0x02;
        f[1] = prefix;
        memcpy(f + 2, &r, 4); /* an unknown unicast destination */
        f[6] = 0x02;
        f[7] = prefix;
        memcpy(f + 8, (uint8_t *)&r + 4, 4); /* a new source address every time */
        net_put16(f + 12, 0x88b5);
        memcpy(f + 14, "FLOOD", 5);
        sent += send_frame(f, 64);
        if (i % 64 == 63)
            drain();
    }
    printf("hostile: flood: %u of %u frames with unknown destinations sent\n", sent, n);
    xtf_check(sent == n, "flood");
}

static void hop(void)
{
    unsigned sent = 0;
    for (uint16_t vid = 1; vid <= 3; vid++) {
        uint8_t *f = frame;
        memcpy(f, net_broadcast, NET_ETH_ALEN);
        memcpy(f + 6, nif.mac, NET_ETH_ALEN);
        net_put16(f + 12, NET_ETHERTYPE_VLAN);
        net_put16(f + 14, vid);
        net_put16(f + 16, 0x88b5);
        memcpy(f + 18, "HOP", 3);
        sent += send_frame(f, 64);
        /* double tagged: an outer tag for "our" VLAN, an inner one for another */
        net_put16(f + 16, NET_ETHERTYPE_VLAN);
        net_put16(f + 18, (uint16_t)(vid + 1));
        net_put16(f + 20, 0x88b5);
        sent += send_frame(f, 64);
    }
    printf("hostile: hop: %u tagged and double-tagged broadcasts sent\n", sent);
}

/* Posts one raw request on our ring towards the switch, as the library would, but unchecked. */
static void raw_request(uint16_t id, uint16_t len)
{
    struct netif_ring *r = &nif.tx;
    union netif_slot slot = {.req = {.id = id, .len = len}};
    __atomic_store_n(&r->s->ring[r->req_prod_pvt % NETIF_RING_SIZE].raw, slot.raw, __ATOMIC_RELEASE);
    r->req_prod_pvt++;
    __atomic_store_n(&r->s->req_prod, r->req_prod_pvt, __ATOMIC_RELEASE);
    evtchn_send(r->port);
}

static void badreq(void)
{
    struct netif_ring *r = &nif.tx;
    /* Room for all four: wait until the switch has answered everything we sent before. */
    uint64_t deadline = now_ns() + WAIT_NS;
    while ((netif_tx_room(&nif), r->rsp_cons != r->req_prod_pvt) && now_ns() < deadline)
        sched_yield();
    uint32_t first = r->req_prod_pvt;
    raw_request(0, 4000);                  /* longer than any frame */
    raw_request(1, 5);                     /* shorter than a header */
    raw_request(NETIF_RING_SIZE + 7, 64); /* a buffer that does not exist */
    uint16_t good = (uint16_t)(r->req_prod_pvt % NETIF_RING_SIZE);
    uint8_t *buf = r->page[good / NETIF_BUFS_PER_PAGE] + (good % NETIF_BUFS_PER_PAGE) * NETIF_BUF_SIZE;
    memcpy(buf, net_broadcast, NET_ETH_ALEN);
    memcpy(buf + 6, nif.mac, NET_ETH_ALEN);
    net_put16(buf + 12, 0x88b5);
    raw_request(good, 60);
    /* Our ids do not follow the library's rule, so we read the four responses ourselves. */
    while (__atomic_load_n(&r->s->rsp_prod, __ATOMIC_ACQUIRE) != r->req_prod_pvt && now_ns() < deadline)
        sleep_ns(NS_PER_MS);
    int16_t status[4];
    for (unsigned k = 0; k < 4; k++) {
        union netif_slot slot = {.raw = __atomic_load_n(&r->s->ring[(first + k) % NETIF_RING_SIZE].raw,
                                                        __ATOMIC_ACQUIRE)};
        status[k] = slot.rsp.status;
    }
    r->rsp_cons = r->req_prod_pvt;
    printf("hostile: badreq: responses %d %d %d to the three bad requests, %d to the good one\n", status[0],
           status[1], status[2], status[3]);
    xtf_check(status[0] == NETIF_RSP_ERROR && status[1] == NETIF_RSP_ERROR && status[2] == NETIF_RSP_ERROR &&
                  status[3] == NETIF_RSP_OKAY,
              "bad requests were not answered with errors");
}

static void scribble(void)
{
    struct netif_sring *s = nif.rx.s; /* the switch's ring towards us: its indices, our answers */
    __atomic_store_n(&s->req_prod, 0xdeadbeef, __ATOMIC_RELEASE);
    __atomic_store_n(&s->rsp_event, 0x12345678, __ATOMIC_RELEASE);
    __atomic_store_n(&nif.ctrl->port[0], 0xffff, __ATOMIC_RELEASE);
    __atomic_store_n(&nif.ctrl->granter_state, 0x77, __ATOMIC_RELEASE);
    evtchn_send(nif.rx.port);
    printf("hostile: scribble: overwrote the switch's own index, event threshold, port and state\n");
}

static void stall(uint64_t ms)
{
    sleep_ns(ms * NS_PER_MS);
    printf("hostile: stall: took nothing off our ring for %lu ms\n", (unsigned long)ms);
}

static void late(unsigned n)
{
    uint64_t deadline = now_ns() + WAIT_NS;
    while (netif_check_peer(&nif) && now_ns() < deadline)
        sleep_ns(NS_PER_MS);
    unsigned got = 0;
    int rc;
    while ((rc = netif_recv(&nif, frame, sizeof(frame))) > 0)
        got++;
    printf("hostile: late: %u of %u frames taken after the peer closed (%s), then %d\n", got, n,
           nif.why ? nif.why : "it never did", rc);
    xtf_check(got == n && rc == NETIF_ECLOSED, "frames sent before the close were lost");
}

static void final(const char *what)
{
    if (!strcmp(what, "overrun")) {
        struct netif_ring *r = &nif.tx;
        __atomic_store_n(&r->s->req_prod, r->req_prod_pvt + 1000, __ATOMIC_RELEASE);
        evtchn_send(r->port);
    } else if (!strcmp(what, "badrsp")) {
        struct netif_ring *r = &nif.rx;
        __atomic_store_n(&r->s->rsp_prod, r->rsp_prod_pvt + 5, __ATOMIC_RELEASE);
        evtchn_send(r->port);
    } else {
        xtf_error("Error: final=%s\n", what);
        return;
    }
    printf("hostile: %s: done, waiting for the switch to drop us\n", what);
    /* The switch closes its ports: ours turn unbound. (Not netif_check_peer: our own view of the
     * rings is as broken as we made it.) */
    uint64_t deadline = now_ns() + WAIT_NS;
    bool dropped = false;
    while (!dropped && now_ns() < deadline) {
        struct evtchn_status st;
        dropped = evtchn_status(DOMID_SELF, nif.ports[0], &st) == 0 && st.status != EVTCHNSTAT_interdomain;
        if (!dropped)
            sleep_ns(10 * NS_PER_MS);
    }
    xtf_check(dropped, "the switch kept a port that broke the protocol");
    if (dropped)
        printf("hostile: the switch dropped us: our channel is unbound\n");
}

void test_main(void)
{
    char arg[128];
    rng = 0x9e3779b97f4a7c15ull ^ start_info->domid;
    prefix = (uint8_t)cmdline_ulong("prefix", 0xaa);
    int rc = netif_open(&nif, (unsigned)cmdline_ulong("link", 0), now_ns() + WAIT_NS);
    if (rc) {
        xtf_failure("Fail: cannot connect: %d\n", rc);
        return;
    }
    printf("hostile: connected to %s\n", nif.link->peer_name);
    if (cmdline_get("do", arg, sizeof(arg))) {
        for (const char *p = arg; *p;) {
            char word[32];
            size_t n = 0;
            while (p[n] && p[n] != ',' && n < sizeof(word) - 1) {
                word[n] = p[n];
                n++;
            }
            word[n] = 0;
            p += n + (p[n] == ',');
            if (!strcmp(word, "flood"))
                flood((unsigned)cmdline_ulong("flood", 1000));
            else if (!strcmp(word, "hop"))
                hop();
            else if (!strcmp(word, "badreq"))
                badreq();
            else if (!strcmp(word, "scribble"))
                scribble();
            else if (!strcmp(word, "stall"))
                stall(cmdline_ulong("stall", 1000));
            else if (!strcmp(word, "late"))
                late((unsigned)cmdline_ulong("late", 0));
            else
                xtf_error("Error: unknown phase %s\n", word);
        }
    }
    if (cmdline_get("final", arg, sizeof(arg)))
        final(arg);
    /* A granter (late=) gives its peer time to finish unmapping: it closes right after the
     * peer's CLOSED, which the peer stores before it unmaps. A mapper unmaps at once either way. */
    printf("hostile: closed: %u mappings held\n", netif_close(&nif, now_ns() + WAIT_NS));
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
