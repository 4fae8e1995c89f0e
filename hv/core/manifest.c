// SPDX-License-Identifier: MIT
// The boot manifest: validated as a whole before anything is built from it.
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/link.h>
#include <moat/manifest.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/measure.h>
#include <public/device.h>
#include <public/event_channel.h>
#include <public/manifest.h>
#include <public/vcpu.h>

_Static_assert(MANIFEST_MAX_VCPUS == MOAT_MAX_VCPUS, "a vcpu_cpus entry for every vCPU");

const char *manifest_check(const void *data, size_t size, unsigned module_count, unsigned self_index)
{
    const struct manifest_header *h = data;
    if (size < sizeof(*h))
        return "shorter than its header";
    if (h->magic != MANIFEST_MAGIC)
        return "bad magic";
    if (h->version != MANIFEST_VERSION)
        return "unsupported version";
    if (h->header_size != sizeof(*h) || h->domain_size != sizeof(struct manifest_domain))
        return "header or domain record size does not match this hypervisor";
    if (h->domain_count == 0 || h->domain_count > MANIFEST_MAX_DOMAINS)
        return "domain count out of range";
    if (h->link_count > MANIFEST_MAX_LINKS)
        return "link count out of range";
    /* The tools write whole milliseconds up to a second (scenario slice_ms); the scheduler counts
     * 1 ms ticks and would round any other value down without a word. */
    if (h->slice_us % 1000 || h->slice_us > 1000000)
        return "the scheduler slice is not 0 to 1000 whole milliseconds";
    if (h->total_size != sizeof(*h) + (uint32_t)h->domain_count * sizeof(struct manifest_domain) +
                             h->link_count * (uint32_t)sizeof(struct manifest_link) ||
        h->total_size > size)
        return "total size does not match";
    if (crc32((const uint8_t *)data + 8, h->total_size - 8) != h->crc32)
        return "checksum mismatch";
    const struct manifest_domain *doms = (const void *)(h + 1);
    for (unsigned i = 0; i < h->domain_count; i++) {
        const struct manifest_domain *m = &doms[i];
        if (!str_terminated(m->name, sizeof(m->name)) || !str_terminated(m->cmdline, sizeof(m->cmdline)))
            return "a domain name or command line is not terminated";
        if (!domain_name_valid(m->name, sizeof(m->name)))
            return "a domain name is not 1 to 31 of A-Z a-z 0-9 _ . -";
        if (m->image_module >= module_count || m->image_module == self_index)
            return "a domain names an image module that does not exist";
        if (m->memory_kib < 64 || m->memory_kib % 4 || m->memory_kib > GUEST_RAM_MAX / 1024)
            return "a domain's memory is out of range";
        if (m->expect > EXPECT_ANY || (m->flags & ~(MDOM_PRIVILEGED | MDOM_PINNED)))
            return "a domain has unknown flags or expectation";
        if (m->cpu >= ((m->flags & MDOM_PINNED) ? MOAT_MAX_CPUS : 1))
            return "a domain's cpu is out of range";
        if (m->vcpus > MOAT_MAX_VCPUS)
            return "a domain has more vCPUs than MOAT_MAX_VCPUS (8)";
        for (unsigned v = 0; v < MANIFEST_MAX_VCPUS; v++)
            if (m->vcpu_cpus[v] != MANIFEST_CPU_PLACED && (v == 0 || v >= MAX(m->vcpus, 1u) ||
                                                           !(m->flags & MDOM_PINNED) || m->vcpu_cpus[v] >= MOAT_MAX_CPUS))
                return "a domain's vcpu_cpus names a vCPU it does not have, or a CPU out of range";
        if (m->max_evtchn > EVTCHN_MAX_PORTS)
            return "a domain's event channel limit is above 4096";
        if (m->devices & ~DEVICE_ALL)
            return "a domain names a device this hypervisor does not know";
    }
    return link_check((const void *)(doms + h->domain_count), h->link_count, h->domain_count);
}

/* Scenario `cpu = [k0, k1, ...]`: vCPU i > 0 (down until the guest starts it) comes up on k_i. */
static void pin_vcpus(struct domain *d, const struct manifest_domain *m)
{
    for (unsigned v = 1; v < d->nr_vcpus; v++) {
        unsigned cpu = m->vcpu_cpus[v];
        if (cpu == MANIFEST_CPU_PLACED)
            continue;
        long rc = sched_vcpu_pin(&d->vcpus[v], true, cpu);
        if (rc == 0)
            printk("domain %u '%s': vcpu %u pinned to cpu %u\n", d->domid, d->name, v, cpu);
        else
            printk("domain %u '%s': vcpu %u: cpu %u %s; the scheduler places it\n", d->domid, d->name, v, cpu,
                   rc == -XEN_EINVAL ? "is not online" : "cannot be pinned (partitioned scheduling)");
    }
}

bool manifest_boot(void)
{
    unsigned idx;
    for (idx = 0; idx < boot_info.module_count; idx++) {
        const struct boot_module *m = &boot_info.modules[idx];
        if (m->end - m->start >= 4 && *(const uint32_t *)phys_to_virt(m->start) == MANIFEST_MAGIC)
            break;
    }
    if (idx == boot_info.module_count)
        return false;

    const struct boot_module *mod = &boot_info.modules[idx];
    const void *data = phys_to_virt(mod->start);
    const char *why = manifest_check(data, mod->end - mod->start, boot_info.module_count, idx);
    if (why) {
        printk("manifest: refused: %s\n", why);
        machine_stop(STOP_FAILURE);
    }
    const struct manifest_header *h = data;
    const struct manifest_domain *doms = (const void *)(h + 1);
    sched_init(h->slice_us);
    printk("manifest: %u domains\n", h->domain_count);
    measure_manifest(data, h->total_size);
    static struct domain *built[MANIFEST_MAX_DOMAINS];
    for (unsigned i = 0; i < h->domain_count; i++) {
        const struct manifest_domain *m = &doms[i];
        struct domain_params p = {
            .name = m->name,
            .image_module = m->image_module,
            .memory_kib = m->memory_kib,
            .ssidref = m->ssidref,
            .flags = m->flags,
            .expect = m->expect,
            .cmdline = m->cmdline,
            .max_evtchn = m->max_evtchn,
            .max_grant_frames = m->max_grant_frames,
            .devices = m->devices,
            .pinned = (m->flags & MDOM_PINNED) != 0,
            .cpu = m->cpu,
            .vcpus = m->vcpus,
            .weight = m->weight,
            .cap = m->cap,
        };
        long err;
        struct domain *d = domain_create(&p, &err);
        built[i] = d;
        if (d && d->nr_vcpus > 1)
            printk("domain %u '%s': %u vcpus (vcpu 0 up, the others down)\n", d->domid, d->name, d->nr_vcpus);
        if (d) {
            printk("domain %u '%s' created: %lu KiB, image module %u, ssidref 0x%x, cpu %u%s\n", d->domid,
                   d->name, (uint64_t)m->memory_kib, m->image_module, m->ssidref, d->vcpus[0].cpu,
                   d->vcpus[0].pinned ? " (pinned)" : "");
            pin_vcpus(d, m);
        } else {
            domain_not_built(m->name, m->expect, err);
        }
    }
    link_publish((const void *)(doms + h->domain_count), h->link_count, built);
    return true;
}
