// SPDX-License-Identifier: MIT
// Acceptance test 41: vchan rejects a hostile peer's orders and indices. One domain plays both
// ends over a loopback channel (it grants the ring page to itself), and as the hostile server it
// rewrites the shared page directly. The client must refuse bad pages at connect (and leave
// nothing mapped or bound), report VCHAN_EPROTO for impossible indices without copying anything
// or looping, ignore rewrites of its own index and of the orders after connect, and keep working
// for a peer that behaves, including a completely full ring.
#include <moat/gnttab.h>
#include <moat/test.h>
#include <moat/vchan.h>

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t buf[4096];
static struct vchan srv, cli;
static struct vchan_interface *shared = (struct vchan_interface *)page; /* the server's own view */

static domid_t self(void) { return start_info->domid; }

static void open_server(void)
{
    int rc = vchan_server_init(&srv, page, self(), VCHAN_DEFAULT_REF, 11, 10);
    xtf_assert(rc == 0, "vchan_server_init: %d", rc);
}

static void close_server(void)
{
    /* Ends the grant at once only if the client left nothing mapped. */
    xtf_check(vchan_close(&srv, 0) == 0, "the ring page is still mapped after the client went away");
}

static void open_pair(void)
{
    open_server();
    int rc = vchan_client_init(&cli, self(), VCHAN_DEFAULT_REF, NS_PER_SEC);
    xtf_assert(rc == 0, "vchan_client_init: %d", rc);
    xtf_assert(vchan_server_wait(&srv, NS_PER_SEC) == 0, "server_wait");
}

static void close_pair(void)
{
    vchan_close(&cli, 0);
    close_server();
}

static void bad_pages(void)
{
    static const struct { uint16_t left, right; uint8_t cli_live, srv_live; } bad[] = {
        { 10, 10, 2, 1 }, { 11, 11, 2, 1 }, { 12, 10, 2, 1 }, { 10, 12, 2, 1 }, { 9, 11, 2, 1 },
        { 0, 0, 2, 1 }, { 20, 10, 2, 1 }, { 0xffff, 11, 2, 1 }, { 11, 31, 2, 1 },
        { 11, 10, 1, 1 }, { 11, 10, 0, 1 }, { 11, 10, 2, 0 }, { 11, 10, 2, 2 },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        open_server();
        shared->left_order = bad[i].left;
        shared->right_order = bad[i].right;
        shared->cli_live = bad[i].cli_live;
        shared->srv_live = bad[i].srv_live;
        int rc = vchan_client_init(&cli, self(), VCHAN_DEFAULT_REF, NS_PER_SEC);
        xtf_check(rc == VCHAN_EPROTO, "orders %u/%u live %u/%u: client_init returned %d", bad[i].left, bad[i].right,
                  bad[i].cli_live, bad[i].srv_live, rc);
        xtf_check(gnttab_flags(VCHAN_DEFAULT_REF) == GTF_permit_access, "case %u: the page stayed mapped", i);
        close_server();
    }
    /* A port that is not ours to bind: refused, nothing left behind. */
    open_server();
    shared->srv_port = 4095;
    xtf_check_eq(vchan_client_init(&cli, self(), VCHAN_DEFAULT_REF, NS_PER_SEC), VCHAN_EEVTCHN);
    close_server();
    printf("bad orders and live states refused\n");
}

static void hostile_indices(void)
{
    /* The peer claims more data than the client's 1 KiB ring holds: one past full to "negative". */
    static const uint32_t ahead[] = { 1025, 4096, 0x80000000u, 0xffffffffu };
    for (unsigned i = 0; i < ARRAY_SIZE(ahead); i++) {
        open_pair();
        xtf_check_eq(vchan_send(&srv, "abc", 3), 0);
        shared->right.prod = cli.rd_cons + ahead[i];
        memset(buf, 0xee, sizeof(buf));
        xtf_check_eq(vchan_data_ready(&cli), VCHAN_EPROTO);
        xtf_check_eq(vchan_read(&cli, buf, sizeof(buf)), VCHAN_EPROTO);
        xtf_check_eq(vchan_recv(&cli, buf, 10), VCHAN_EPROTO); /* no waiting, no looping */
        xtf_check(buf[0] == 0xee && buf[1023] == 0xee, "a refused read copied data");
        shared->right.prod = cli.rd_cons + 3; /* sane again: the vchan stays broken */
        xtf_check_eq(vchan_read(&cli, buf, 3), VCHAN_EPROTO);
        close_pair();
    }
    /* The peer claims to have consumed what we never wrote. */
    open_pair();
    shared->left.cons = cli.wr_prod + 5;
    uint8_t before = page[2048];
    xtf_check_eq(vchan_buffer_space(&cli), VCHAN_EPROTO);
    xtf_check_eq(vchan_write(&cli, "xyz", 3), VCHAN_EPROTO);
    xtf_check_eq(vchan_send(&cli, "xyz", 3), VCHAN_EPROTO);
    xtf_check_eq(page[2048], before);
    close_pair();
    /* The server side is as careful with a hostile client. */
    open_pair();
    shared->left.prod = srv.rd_cons + 2049;
    xtf_check_eq(vchan_read(&srv, buf, 16), VCHAN_EPROTO);
    close_pair();
    printf("hostile indices refused\n");
}

static void tolerated_tampering(void)
{
    open_pair();
    /* Our own index rewritten by the peer: ignored, and republished correctly. */
    xtf_check_eq(vchan_send(&srv, "abc", 3), 0);
    shared->right.cons = 12345;
    memset(buf, 0, 8);
    xtf_check_eq(vchan_read(&cli, buf, 8), 3);
    xtf_check(memcmp(buf, "abc", 3) == 0, "read '%.3s'", buf);
    xtf_check_eq(shared->right.cons, cli.rd_cons);
    /* Orders rewritten after connect: the client keeps the ones it checked. */
    shared->right_order = 20;
    shared->left_order = 0;
    xtf_check_eq(vchan_send(&srv, "defg", 4), 0);
    xtf_check_eq(vchan_read(&cli, buf, 8), 4);
    xtf_check(memcmp(buf, "defg", 4) == 0, "read '%.4s'", buf);
    /* A full ring is legal: prod - cons == size. */
    static uint8_t full[1024];
    for (unsigned i = 0; i < sizeof(full); i++)
        full[i] = (uint8_t)(i * 7);
    xtf_check_eq(vchan_write(&srv, full, sizeof(full)), 1024);
    xtf_check_eq(vchan_write(&srv, full, 1), 0);
    xtf_check_eq(vchan_data_ready(&cli), 1024);
    xtf_check_eq(vchan_read(&cli, buf, sizeof(buf)), 1024);
    xtf_check(memcmp(buf, full, sizeof(full)) == 0, "full ring read back wrong");
    /* And both directions still work, wrapping. */
    for (unsigned i = 0; i < 50; i++) {
        xtf_check_eq(vchan_send(&cli, full, 700), 0);
        xtf_check_eq(vchan_recv(&srv, buf, 700), 0);
        xtf_check(memcmp(buf, full, 700) == 0, "round %u", i);
    }
    close_pair();
    printf("tolerated tampering survived\n");
}

void test_main(void)
{
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    bad_pages();
    hostile_indices();
    tolerated_tampering();
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
