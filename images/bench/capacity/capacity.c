// SPDX-License-Identifier: MIT
// How many 1 MiB domains fit (a privileged domain in a 128 MiB machine): create benchchild
// domains until createdomain fails, check that every child ran and blocked (they stay alive), and
// report
//   domains_1mib           how many were created (unit: domains)
//   spare_kib_at_limit     the RAM of the largest extra domain that would still fit beside them
//                          if a domain slot were free (unit: kib): near 0 when memory stopped
//                          the count (-ENOMEM), more when the 64-entry domain table did
//                          (-ENOSPC). Measured by destroying one child and searching, in 4 KiB
//                          steps, the largest domain that can be created, minus that child's RAM.
// Then every child is destroyed; moat bench checks the free-frame count returns to its boot value.
#include <moat/bench.h>
#include <moat/test.h>

#define CHILD_KIB 1024u
#define MAX_CHILDREN MOAT_MAX_DOMAINS

static domid_t children[MAX_CHILDREN];
static int image;

static long create(uint32_t kib, domid_t *domid)
{
    struct domctl_create_args args = { .image = (uint32_t)image, .memory_kib = kib,
                                       .ssidref = start_info->ssidref, .name = "capacity-child" };
    return domctl_create(&args, domid);
}

// The largest domain (in KiB, a multiple of 4) that can be created now; 0 if none.
static uint32_t largest_domain(void)
{
    uint32_t lo = 0, hi = 128 * 1024;  // lo fits (or is 0), hi does not
    while (hi - lo > 4) {
        uint32_t mid = (lo + (hi - lo) / 2) & ~3u;
        domid_t d;
        if (create(mid, &d) == 0) {
            domctl_destroy(d);
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void test_main(void)
{
    image = find_image("benchchild");
    if (image < 0) {
        xtf_error("Error: the benchchild image is not among the modules\n");
        return;
    }

    unsigned count = 0;
    long rc = 0;
    while (count < MAX_CHILDREN && (rc = create(CHILD_KIB, &children[count])) == 0)
        count++;
    printf("created %u domains of %u KiB; the next createdomain returned %ld (%s)\n", count,
           CHILD_KIB, rc, rc == -XEN_ENOMEM ? "out of memory" :
                          rc == -XEN_ENOSPC ? "the domain table is full" : "?");
    if (rc != -XEN_ENOMEM && rc != -XEN_ENOSPC)
        xtf_failure("Fail: createdomain stopped with %ld, expected -ENOMEM or -ENOSPC\n", rc);

    // Let every child run up to its block, then check they are all alive.
    sleep_ns(5 * NS_PER_MS);
    unsigned blocked = 0;
    for (unsigned i = 0; i < count; i++) {
        struct moat_domctl_info info;
        if (domctl_getinfo(children[i], &info) == 0 && info.state == DOMSTATE_BLOCKED)
            blocked++;
    }
    if (blocked != count)
        xtf_failure("Fail: only %u of %u children are alive and blocked\n", blocked, count);

    // Destroying one child frees a domain slot, so the search measures memory even when the
    // table stopped the count; that child's own RAM is taken off again.
    uint32_t spare = 0;
    unsigned alive = count;
    if (alive > 0 && domctl_destroy(children[--alive]) == 0) {
        uint32_t largest = largest_domain();
        spare = largest > CHILD_KIB ? largest - CHILD_KIB : 0;
    }

    for (unsigned i = 0; i < alive; i++)
        if (domctl_destroy(children[i]) != 0)
            xtf_failure("Fail: destroying child %u failed\n", children[i]);

    if (xtf_result() > XTF_SKIP)
        return;
    bench_report_value("domains_1mib", count, "domains");
    bench_report_value("spare_kib_at_limit", spare, "kib");
    xtf_success(NULL);
}
