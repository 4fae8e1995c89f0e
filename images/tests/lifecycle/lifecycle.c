// SPDX-License-Identifier: MIT
// Create and destroy domains many times through domctl. The boot test compares the hypervisor's
// free-frame count at boot and at stop: every frame of every child must come back.
//   rounds=N   how many create/destroy rounds (default 100)
//   ending=N   how many children that power off by themselves (default 3)
//   too_big=0  skip the create of a domain larger than the machine (default 1: try it)
// Children alternate between `sleeper` (blocked) and `spinner` (running) images; every tenth
// round the controller sleeps so the child runs before it is destroyed; some children are
// `hello`, left to power off by themselves. Children get the controller's own label, which the
// policy must let it create.
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

void test_main(void)
{
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
