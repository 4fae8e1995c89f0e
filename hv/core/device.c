// SPDX-License-Identifier: MIT
// Device assignment under MAC: the TPM's locality-0 register page (MMIO, mapped uncached into the
// holder at GUEST_TPM_VA) and the second serial port (I/O ports, opened for ring 3 while the
// holder runs). Checked once, when the domain is built (boot manifest or domctl create):
// the device must be there, the label must permit it, and nobody else may hold it.
#include <lib/tpm_tis.h>
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/measure.h>
#include <moat/sched.h>
#include <moat/xsm.h>
#include <public/device.h>

struct device_desc {
    const char *name;
    paddr_t mmio;        /* one page, or 0 */
    vaddr_t guest_va;
    uint16_t port, ports;
};

static const struct device_desc devs[DEVICE_COUNT] = {
    [DEVICE_TPM] = {"tpm", TIS_BASE, GUEST_TPM_VA, 0, 0},
    [DEVICE_COM2] = {"com2", 0, 0, COM2_PORT, COM2_PORTS},
};

/* Who holds each device: a domain id and its incarnation (0: nobody). */
static domid_t holder[DEVICE_COUNT];
static uint32_t holder_inc[DEVICE_COUNT];
static uint32_t loaded_ports[MOAT_MAX_CPUS]; /* per CPU: the devices whose ports its TSS bitmap opens now */
unsigned device_ports_open_cpus;             /* of which not 0 (under the hypervisor lock) */

static bool held(unsigned dev)
{
    if (!holder_inc[dev])
        return false;
    /* By id, not by slot: under mitigate=domid a domain created at run time has an id of 64 or
     * more, which is not its slot (domain_table(id) answered NULL, and the device looked free). */
    struct domain *h = domain_by_id_any(holder[dev]);
    return h && h->incarnation == holder_inc[dev];
}

bool device_holds(const struct domain *d, unsigned dev)
{
    return d && dev < DEVICE_COUNT && (d->devices & DEVICE_BIT(dev)) && holder_inc[dev] == d->incarnation &&
           holder[dev] == d->domid;
}

static bool present(unsigned dev)
{
    if (dev == DEVICE_TPM)
        return measure_tpm_present();
    return uart_present(COM2_PORT);
}

long device_assign(struct domain *d, uint32_t mask, struct domain *creator)
{
    d->devices = 0;
    sched_plain_update(d);
    if (mask & ~DEVICE_ALL)
        return -XEN_EINVAL;
    for (unsigned dev = 0; dev < DEVICE_COUNT; dev++) {
        if (!(mask & DEVICE_BIT(dev)))
            continue;
        if (xsm_assign_device(creator, d->ssidref, d->name, dev))
            return -XEN_EPERM;
        if (!present(dev)) {
            printk("domain %u '%s': device %s is not present\n", d->domid, d->name, devs[dev].name);
            return -XEN_ENODEV;
        }
        if (held(dev)) {
            printk("domain %u '%s': device %s is held by domain %u\n", d->domid, d->name, devs[dev].name,
                   holder[dev]);
            return -XEN_EBUSY;
        }
    }
    for (unsigned dev = 0; dev < DEVICE_COUNT; dev++) {
        if (!(mask & DEVICE_BIT(dev)))
            continue;
        /* The MMIO frame is not RAM: no frame record, never freed by gpt_destroy. */
        if (devs[dev].mmio &&
            !gpt_map(d, devs[dev].guest_va, devs[dev].mmio >> PAGE_SHIFT, MAP_WRITABLE | MAP_UNCACHED | MAP_NOEXEC)) {
            device_release(d);
            return -XEN_ENOMEM;
        }
        holder[dev] = d->domid;
        holder_inc[dev] = d->incarnation;
        d->devices |= DEVICE_BIT(dev);
        sched_plain_update(d); /* not the plain switch's any more */
    }
    return 0;
}

void device_release(struct domain *d)
{
    for (unsigned dev = 0; dev < DEVICE_COUNT; dev++)
        if (device_holds(d, dev)) {
            if (devs[dev].mmio)
                gpt_unmap(d, devs[dev].guest_va);
            holder_inc[dev] = 0;
        }
    d->devices = 0;
    sched_plain_update(d);
}

void device_switch_ports(const struct domain *next)
{
    uint32_t want = 0;
    /* Most domains were assigned no device: nothing to look up on their switch. */
    for (unsigned dev = 0; next->devices && dev < DEVICE_COUNT; dev++)
        if (devs[dev].ports && device_holds(next, dev))
            want |= DEVICE_BIT(dev);
    uint32_t *loaded = &loaded_ports[this_cpu()->id]; /* each CPU has its own TSS and bitmap */
    if (want == *loaded)
        return;
    static uint8_t bitmap[IO_BITMAP_PORTS / 8];
    memset(bitmap, 0xff, sizeof(bitmap));
    for (unsigned dev = 0; dev < DEVICE_COUNT; dev++)
        if (want & DEVICE_BIT(dev))
            for (unsigned p = devs[dev].port; p < devs[dev].port + devs[dev].ports; p++)
                bitmap[p / 8] &= (uint8_t)~(1u << (p % 8));
    io_bitmap_load(bitmap);
    device_ports_open_cpus += (want != 0) - (*loaded != 0);
    *loaded = want;
    sched_plain_ports(); /* ports open on a CPU: no plain switch (sched.c) */
}

void device_audit_fault(struct domain *d, uint64_t fault_addr, int port)
{
    for (unsigned dev = 0; dev < DEVICE_COUNT; dev++) {
        const struct device_desc *s = &devs[dev];
        bool touched = false;
        if (fault_addr && s->mmio)
            touched = fault_addr >= s->guest_va && fault_addr < s->guest_va + PAGE_SIZE;
        if (port >= 0 && s->ports)
            touched = port >= s->port && port < s->port + s->ports;
        if (touched && !device_holds(d, dev))
            xsm_device_denied(d, dev);
    }
}
