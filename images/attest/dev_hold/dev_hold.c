// SPDX-License-Identifier: MIT
// Creates domains holding COM2 at run time (tests/attest/test_devices.py): a second domain asking
// for COM2 while the first holds it must be refused (-EBUSY), and once the first is destroyed the
// device may be given again. Under mitigate=domid the children's ids are keyed hashes (64 and up),
// not their slots: the hypervisor must still find the holder. `label=<ssidref>` the children's
// label (one that may hold COM2); `image=<name>` theirs (default sleeper).
#include <public/device.h>

#include <moat/guest.h>

static long child(uint32_t label, int image, const char *name, domid_t *id)
{
    struct domctl_create_args args = {.image = (uint32_t)image, .memory_kib = 256, .ssidref = label,
                                      .name = name, .devices = DEVICE_BIT(DEVICE_COM2)};
    long rc = domctl_create(&args, id);
    printf("dev_hold: %s asked for com2: rc %ld, d%u\n", name, rc, rc == 0 ? *id : 0);
    return rc;
}

int main(const struct start_info *si)
{
    (void)si;
    uint32_t label = (uint32_t)cmdline_ulong("label", 0);
    char name[32] = "sleeper";
    cmdline_get("image", name, sizeof(name));
    int image = find_image(name);
    if (!label || image < 0) {
        printf("FAILED: usage: label=<ssidref> [image=<name>] (image %d)\n", image);
        return 1;
    }
    domid_t first = 0, second = 0, third = 0;
    if (child(label, image, "holder-1", &first) != 0) {
        printf("FAILED: the first holder was refused\n");
        return 1;
    }
    long rc = child(label, image, "holder-2", &second);
    if (rc != -XEN_EBUSY)
        printf("FAILED: a second holder of com2 got rc %ld\n", rc);
    if (rc == 0)
        domctl_destroy(second);
    printf("dev_hold: destroying d%u: rc %ld\n", first, domctl_destroy(first));
    rc = child(label, image, "holder-3", &third);
    if (rc != 0)
        printf("FAILED: com2 was not given again after its holder died: rc %ld\n", rc);
    else
        printf("dev_hold: destroying d%u: rc %ld\n", third, domctl_destroy(third));
    printf("dev_hold: done\n");
    return 0;
}
