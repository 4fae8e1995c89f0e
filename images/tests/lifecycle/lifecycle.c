// SPDX-License-Identifier: MIT
// Create and destroy domains many times through domctl. The boot test compares the hypervisor's
// free-frame count at boot and at stop: every frame of every child must come back.
//   rounds=N   how many create/destroy rounds (default 100)
//   ending=N   how many children that power off by themselves (default 3)
//   too_big=0  skip the create of a domain larger than the machine (default 1: try it)
//   ports=1    only the port-table round: a child's every port allocated, the child destroyed,
//              and the next child in its slot must find every port closed (domain_create clears
//              the slot's port table only up to the new domain's port limit); a child in the slot
//              after it lives through that creation (the clear stays inside its own slot)
//   ids=N      only the keyed-id round (a boot under mitigate=domid): N creations from the
//              manifest module, which is no ELF image, each refused after its keyed id was drawn;
//              the hypervisor's refusal line names the id, and the boot test wants one drawn twice
//              (a refused creation gives its id back to the draw)
// Children alternate between `sleeper` (blocked) and `spinner` (running) images; every tenth
// round the controller sleeps so the child runs before it is destroyed; some children are
// `hello`, left to power off by themselves. Children get the controller's own label, which the
// policy must let it create.
#include <moat/evtchn.h>
#include <moat/test.h>

static int image(const char *name)
{
    int i = find_image(name);
    if (i < 0) {
        xtf_error("Error: image '%s' is not among the modules\n", name);
        xtf_exit();
    }
    return i;
}

static domid_t create(int img, const char *name, uint32_t kib)
{
    struct domctl_create_args args = { .image = (uint32_t)img, .memory_kib = kib,
                                       .ssidref = start_info->ssidref, .name = name,
                                       .cmdline = "child" };
    domid_t domid = DOMID_INVALID;
    long rc = domctl_create(&args, &domid);
    if (rc != 0) {
        xtf_failure("Fail: create '%s' returned %ld\n", name, rc);
        xtf_exit();
    }
    return domid;
}

static void check_child(domid_t d, const char *name, uint32_t kib)
{
    struct moat_domctl_info info;
    long rc = domctl_getinfo(d, &info);
    if (!xtf_check(rc == 0, "getinfo(%u) returned %ld", d, rc))
        return;
    xtf_check(strcmp(info.name, name) == 0, "child name '%s'", info.name);
    xtf_check_eq(info.nr_pages, kib / 4);
    xtf_check_eq(info.ssidref, start_info->ssidref);
    xtf_check(info.state == DOMSTATE_RUNNABLE || info.state == DOMSTATE_BLOCKED,
              "child state %u", info.state);
}

/* Every port of a child (1..limit-1) taken, then a child in the same slot finds them all closed. */
static void port_table_round(int img)
{
    domid_t a = create(img, "ports-a", 256);
    evtchn_port_t last = 0;
    for (;;) {
        long port = evtchn_alloc_unbound_in(a, 0);
        if (port < 0) {
            xtf_check(port == -XEN_ENOSPC, "alloc_unbound in %u returned %ld", a, port);
            break;
        }
        xtf_check((evtchn_port_t)port == last + 1, "port %ld after %u", port, last);
        last = (evtchn_port_t)port;
    }
    xtf_check(last >= 1000, "only %u ports allocated", last);
    struct evtchn_status st;
    xtf_check(evtchn_status(a, last, &st) == 0 && st.status == EVTCHNSTAT_unbound, "port %u of %u: status %u",
              last, a, st.status);
    domid_t next = create(img, "ports-next", 256); /* the slot after a's */
    xtf_check(next == a + 1, "the neighbour is %u, not in slot %u", next, a + 1);
    xtf_check_eq(domctl_destroy(a), 0);
    domid_t b = create(img, "ports-b", 256);
    xtf_check(b == a, "the second child is %u, not in the first's slot %u", b, a);
    /* Building b cleared its own slot only: the neighbour is intact and still runs. */
    check_child(next, "ports-next", 256);
    unsigned open = 0;
    for (evtchn_port_t p = 1; p <= last; p++)
        open += evtchn_status(b, p, &st) != 0 || st.status != EVTCHNSTAT_closed;
    xtf_check(open == 0, "%u of ports 1..%u of the new child are not closed", open, last);
    xtf_check(evtchn_status(b, last + 1, &st) == -XEN_EINVAL, "port %u past the limit: status %u", last + 1,
              st.status);
    xtf_check_eq(evtchn_alloc_unbound_in(b, 0), 1);
    xtf_check_eq(domctl_destroy(b), 0);
    xtf_check_eq(domctl_destroy(next), 0);
    printf("port table round done: %u ports\n", last);
}

/* mitigate=domid: each creation draws a keyed id before the image is checked, and gives it back
 * when the image is refused (hv/core/domain.c, free_slot). Refused creations, unlike created
 * domains, add no record to the measurement log (which has room for some 150), so there can be
 * enough of them for a freed id to come up again: by the birthday bound, within a few hundred of
 * the 32,688 ids (in 1,500 draws none repeats with probability e^-34). A hypervisor that kept
 * freed ids taken would never repeat one, and would hang once all were used. */
static void keyed_id_round(unsigned long n)
{
    int manifest = image("manifest");
    for (unsigned long i = 0; i < n; i++) {
        struct domctl_create_args args = { .image = (uint32_t)manifest, .memory_kib = 256,
                                           .ssidref = start_info->ssidref, .name = "id-probe" };
        domid_t d = DOMID_INVALID;
        long rc = domctl_create(&args, &d);
        if (!xtf_check(rc == -XEN_EINVAL, "create %lu from the manifest module returned %ld", i, rc))
            return;
    }
    printf("%lu refused creations done\n", n);
}

void test_main(void)
{
    unsigned long ids = cmdline_ulong("ids", 0);
    if (ids) {
        keyed_id_round(ids);
        xtf_success(NULL);
        xtf_exit();
    }
    if (cmdline_ulong("ports", 0)) {
        port_table_round(image("sleeper"));
        xtf_success(NULL);
    }
    unsigned long rounds = cmdline_ulong("rounds", 100);
    int sleeper = image("sleeper"), spinner = image("spinner"), hello = image("hello");
    struct moat_domctl_info info;

    for (unsigned long i = 0; i < rounds; i++) {
        bool spin = i & 1;
        domid_t d = create(spin ? spinner : sleeper, spin ? "spin-child" : "sleep-child", 256);
        check_child(d, spin ? "spin-child" : "sleep-child", 256);
        if (i % 10 == 0)
            sleep_ns(2 * NS_PER_MS);  // let the child run first
        xtf_check_eq(domctl_destroy(d), 0);
        xtf_check_eq(domctl_getinfo(d, &info), -XEN_ESRCH);
        xtf_check_eq(domctl_destroy(d), -XEN_ESRCH);
        if (xtf_result() > XTF_SKIP)
            break;
    }
    printf("%lu create/destroy rounds done\n", rounds);

    // Children that end by themselves are cleaned up too.
    unsigned long ending = cmdline_ulong("ending", 3);
    for (unsigned long i = 0; i < ending; i++) {
        domid_t d = create(hello, "hello-child", 256);
        uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
        while (domctl_getinfo(d, &info) == 0 && now_ns() < give_up)
            sleep_ns(2 * NS_PER_MS);
        xtf_check(domctl_getinfo(d, &info) == -XEN_ESRCH, "hello child %u did not end", d);
    }

    if (cmdline_ulong("too_big", 1)) {
        // More memory than the machine has: refused, and nothing leaks.
        struct domctl_create_args big = { .image = (uint32_t)sleeper, .memory_kib = 1024 * 1024,
                                          .ssidref = start_info->ssidref,
                                          .name = "too-big" };
        domid_t d;
        long rc = domctl_create(&big, &d);
        xtf_check(rc == -XEN_ENOMEM, "a 1 GiB domain returned %ld, expected -ENOMEM", rc);
    }
    xtf_success(NULL);
}
